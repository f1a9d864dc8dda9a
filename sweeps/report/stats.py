"""A question's table: per variant, each number as the mean ± std over its finished repeats.

Only finished runs are aggregated (a partial run's "final" accuracy is not final); partial and missing
repeats are counted in the row's status so that none is silently dropped.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sweeps.record.tags import PARAMETERS
from sweeps.report.collect import RunRecord, StudyRecord
from sweeps.trials import PlannedQuestion, PlannedVariant


@dataclass(frozen=True)
class Stat:
    mean: float
    std: float | None  # sample standard deviation (n − 1) over the repeats; None for a single run
    values: tuple[float, ...]  # what it summarises, one per run (a test of noise needs them)

    @property
    def count(self) -> int:
        return len(self.values)


def summarise(values: Sequence[float]) -> Stat | None:
    if not values:
        return None
    std = statistics.stdev(values) if len(values) > 1 else None
    return Stat(statistics.fmean(values), std, tuple(values))


def over_epochs(key: str, reduce: Callable[[list[float]], float]) -> Callable[[RunRecord], float | None]:
    return lambda run: reduce(run.curves[key]) if run.curves.get(key) else None


def _final(values: list[float]) -> float:
    return values[-1]


def end_of_run(key: str) -> Callable[[RunRecord], float | None]:
    return lambda run: run.metrics.get(key)


@dataclass(frozen=True)
class Column:
    title: str
    value: Callable[[RunRecord], float | None]  # one run's number; None when it did not log it
    digits: int  # decimals shown


FINAL_VAL_ACC = Column("final val acc", over_epochs("val_acc", _final), 4)
FINAL_TRAIN_ACC = Column("final train acc", over_epochs("train_acc", _final), 4)
TEST_ACC = Column("test acc", end_of_run("test_acc"), 4)  # logged at the run's end; older runs lack it
TRAIN_SECONDS = Column("train seconds", over_epochs("epoch_seconds", sum), 2)  # training passes only, no evaluation
SECONDS_PER_EPOCH = Column("seconds / epoch", over_epochs("epoch_seconds", statistics.fmean), 3)
COLUMNS: tuple[Column, ...] = (
    FINAL_VAL_ACC,
    Column("best val acc", over_epochs("val_acc", max), 4),
    FINAL_TRAIN_ACC,
    Column("final train loss", over_epochs("train_loss", _final), 4),
    Column("final val loss", over_epochs("val_loss", _final), 4),
    TEST_ACC,
    TRAIN_SECONDS,
    SECONDS_PER_EPOCH,
)


@dataclass(frozen=True)
class VariantRow:
    variant: PlannedVariant
    label: str  # what sets it apart from the question's other variants, e.g. "optim.lr=0.001"
    runs: list[RunRecord]  # the runs that exist, finished or not, in repeat order
    parameters: int  # trainable parameters of its model
    stats: dict[str, Stat | None]  # column title → over the finished runs

    @property
    def finished(self) -> list[RunRecord]:
        return [run for run in self.runs if run.finished]

    @property
    def missing(self) -> list[str]:
        """Trial ids of the variant that have no run."""
        logged = {run.trial_id for run in self.runs}
        return [trial_id for trial_id in self.variant.trials if trial_id not in logged]

    @property
    def status(self) -> str:
        """`finished`, or what is not: `2/3 finished · running: epoch 1/2 · 1 missing`."""
        repeats = len(self.variant.trials)
        if len(self.finished) == repeats:
            return "finished"
        parts = [f"{len(self.finished)}/{repeats} finished"] if repeats > 1 else []
        parts += [
            run.described if run.status == "diverged" else f"{run.status}: epoch {run.epochs_logged}/{run.planned_epochs}"
            for run in self.runs
            if not run.finished
        ]
        if self.missing:
            parts.append(f"{len(self.missing)} missing" if repeats > 1 else "missing")
        return " · ".join(parts)


def varying_keys(question: PlannedQuestion) -> list[str]:
    """Override keys whose value differs between the question's variants (a key left out counts as a value)."""
    keys = dict.fromkeys(key for variant in question.variants for key in variant.overrides)
    return [
        key
        for key in keys
        if len({json.dumps(variant.overrides.get(key), sort_keys=True) for variant in question.variants}) > 1
    ]


def variant_label(variant: PlannedVariant, keys: Sequence[str]) -> str:
    """The variant's values of `keys` (the varying ones), e.g. "optim.lr=0.001"."""
    shown = [f"{key}={format_value(variant.overrides[key])}" for key in keys if key in variant.overrides]
    return " ".join(shown) or "all runs"  # a question of one variant: its repeats are the point


def format_value(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def variant_rows(question: PlannedQuestion, study: StudyRecord) -> list[VariantRow]:
    rows = []
    keys = varying_keys(question)
    for variant in question.variants:
        runs = [study.runs[trial_id] for trial_id in variant.trials if trial_id in study.runs]
        finished = [run for run in runs if run.finished]
        stats = {
            column.title: summarise([value for value in map(column.value, finished) if value is not None])
            for column in COLUMNS
        }
        tagged = [run.tags[PARAMETERS] for run in runs if PARAMETERS in run.tags]  # what the run trained
        parameters = int(tagged[0]) if tagged else study.plan.trial(variant.trial).parameters
        rows.append(VariantRow(variant, variant_label(variant, keys), runs, parameters, stats))
    return rows


def format_stat(stat: Stat | None, digits: int) -> str:
    if stat is None:
        return "—"
    if stat.std is None:
        return f"{stat.mean:.{digits}f}"
    return f"{stat.mean:.{digits}f} ± {stat.std:.{digits}f}"


def best_row(rows: Sequence[VariantRow]) -> VariantRow | None:
    """The variant with the highest mean final val accuracy among those with a finished run."""
    scored = [row for row in rows if row.stats[FINAL_VAL_ACC.title] is not None]
    # union-attr: `scored` holds only rows with a stat, which mypy cannot see through the lambda
    return max(scored, key=lambda row: row.stats[FINAL_VAL_ACC.title].mean, default=None)  # type: ignore[union-attr]
