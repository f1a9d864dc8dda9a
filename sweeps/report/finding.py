"""A question's finding, stated in one sentence computed from its table: the best and the worst row by final
val accuracy (mean ± std over repeats), the reference's, and whether each row differs from the reference
beyond noise (Welch's t-test, scipy). Without a reference the rows are compared with the best one.

Only finished runs count. A test needs at least two runs on each side; with fewer the sentence says so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from sweeps.report.stats import FINAL_VAL_ACC, Stat, format_stat
from sweeps.report.table import TableRow

ALPHA = 0.05  # below this p-value a difference is "beyond noise"
DIGITS = FINAL_VAL_ACC.digits


@dataclass(frozen=True)
class Comparison:
    label: str  # the row compared
    against: str  # the reference's (or the best row's) label
    p: float | None  # Welch's two-sided p-value; None: no test possible
    n: int  # runs of the row
    against_n: int

    @property
    def verdict(self) -> str:
        sizes = f"n = {self.n} vs {self.against_n}"
        if self.p is None:
            return f"{self.label}: no test possible ({sizes}; it needs 2 runs a side)"
        if math.isnan(self.p):
            return f"{self.label}: no test possible ({sizes}, no spread within either)"
        if self.p < ALPHA:
            return f"{self.label} differs beyond noise (p = {self.p:.2g} < {ALPHA}, {sizes})"
        return f"{self.label} is within noise (p = {self.p:.2g}, {sizes})"


@dataclass(frozen=True)
class Finding:
    sentence: str
    comparisons: list[Comparison]  # one per other row with a finished run


def find(rows: Sequence[TableRow], what: str = "variant") -> Finding:
    """The finding of a table whose rows are `what`s (variant, sample, run)."""
    scored = [(row, stat) for row in rows if row.n and (stat := row.cells.get(FINAL_VAL_ACC.title)) is not None]
    if not scored:
        return Finding(f"No {what} has a finished run yet: nothing to compare.", [])
    best = max(scored, key=lambda pair: pair[1].mean)
    worst = min(scored, key=lambda pair: pair[1].mean)
    reference = next((pair for pair in scored if pair[0].reference), None)
    base = reference or best
    text = f"Best {what}: {_named(best, best is reference)}"
    if len(scored) == 1:
        return Finding(f"{text}; no other {what} has finished, so there is nothing to compare.", [])
    text += f"; worst: {_named(worst, worst is reference)}"
    if reference is not None and reference not in (best, worst):
        text += f"; reference: {_named(reference, False)}"
    comparisons = [_compare(row, stat, base) for row, stat in scored if row is not base[0]]
    against = "the reference" if reference is not None else "the best"
    if all(comparison.p is None for comparison in comparisons):
        sizes = sorted({stat.count for _, stat in scored})
        runs = "one run each" if sizes == [1] else f"n = {_list(sizes)}"
        return Finding(f"{text}; {runs}, so no test of noise is possible (Welch's t-test needs 2 runs a side).", comparisons)
    verdicts = "; ".join(comparison.verdict for comparison in comparisons)
    return Finding(f"{text}. Against {against} (Welch's t-test): {verdicts}.", comparisons)


def _named(pair: tuple[TableRow, Stat], is_reference: bool) -> str:
    row, stat = pair
    marked = " (the reference)" if is_reference else ""
    return f"{row.label}{marked}, {FINAL_VAL_ACC.title} {format_stat(stat, DIGITS)} (n = {stat.count})"


def _compare(row: TableRow, stat: Stat, base: tuple[TableRow, Stat]) -> Comparison:
    base_row, base_stat = base
    p = None
    if stat.count >= 2 and base_stat.count >= 2:
        from scipy import stats  # imported late: a second's import, needed only here

        p = float(stats.ttest_ind(stat.values, base_stat.values, equal_var=False).pvalue)
    return Comparison(row.label, base_row.label, p, stat.count, base_stat.count)


def _list(values: Sequence[int]) -> str:
    return " or ".join(map(str, values))
