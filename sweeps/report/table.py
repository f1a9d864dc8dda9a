"""A question's table as numbers: the one source of the report's table, its finding and `Results.table()`.

Each row is a variant (or a run) with the runs it summarises; a number cell is a Stat (mean ± std over
the row's finished runs, its values kept), a text cell a plain value. The report formats it as a
`Table` block; the API turns it into a DataFrame with `<title> mean` and `<title> std` columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sweeps.report.collect import RunRecord
from sweeps.report.document import Table
from sweeps.report.runs import code_cell
from sweeps.report.stats import Stat, format_stat, format_value

REFERENCE = "reference"  # the role of the row the others are compared with
STATUS = "status"
N = "n"  # finished runs of a row
CODE = "code"  # the code hash(es) a row's runs were trained by (sweeps.code_hash)
SHOWN_ROWS = 25  # rows the report's table shows (the first ones, and any reference or best); the rest counted


@dataclass(frozen=True)
class TableColumn:
    title: str
    digits: int | None = None  # a number column's decimals (its cells: Stat or None); None: a text column

    @property
    def numeric(self) -> bool:
        return self.digits is not None


@dataclass(frozen=True)
class TableRow:
    label: str  # what sets it apart: "optim.lr=0.001", or a run's name
    status: str  # finished, or what is not: "2/3 finished · 1 missing", "stopped early at epoch 2"
    runs: list[RunRecord]  # the runs it covers, finished or not
    cells: dict[str, Any]  # column title → Stat | None (number columns) or a value (text columns)
    role: str | None = None  # REFERENCE (what the others are compared with), or "best" (a search's)

    @property
    def n(self) -> int:
        return sum(run.finished for run in self.runs)

    @property
    def reference(self) -> bool:
        return self.role == REFERENCE


@dataclass(frozen=True)
class QuestionTable:
    label: str  # the first column's title: "variant" or "run"
    columns: list[TableColumn]
    rows: list[TableRow]
    repeats: bool  # a row may hold several runs: the report shows n

    def block(self) -> Table:
        """The report's table: `mean ± std` per number cell, "—" for nothing."""
        header = [self.label, STATUS, *(column.title for column in self.columns), *([N] if self.repeats else []), CODE]
        body = [
            [
                row.label + (f" ({row.role})" if row.role else ""),
                row.status,
                *(_cell(column, row.cells.get(column.title)) for column in self.columns),
                *([str(row.n)] if self.repeats else []),
                code_cell([run for run in row.runs if run.finished] or row.runs),
            ]
            for row in self.rows[:SHOWN_ROWS] + [row for row in self.rows[SHOWN_ROWS:] if row.role]
        ]
        hidden = sum(not row.role for row in self.rows[SHOWN_ROWS:])
        if hidden:  # `sweeps.load(STUDY).table(QUESTION)` has every row
            body.append([f"… {hidden} more {self.label}s", *[""] * (len(header) - 1)])
        return Table(header, body)


def _cell(column: TableColumn, value: Any) -> str:
    if column.digits is not None:
        return format_stat(value, column.digits)
    return "—" if value is None else format_value(value)


def single(value: float | None) -> Stat | None:
    """A number cell of one run."""
    return None if value is None else Stat(value, None, (value,))
