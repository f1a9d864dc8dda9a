"""The report's table of a question with many rows shows the first ones and the marked one, and counts the rest."""

from __future__ import annotations

from sweeps.report.collect import RunRecord
from sweeps.report.table import SHOWN_ROWS, QuestionTable, TableColumn, TableRow, single


def _table(count: int, best: int) -> QuestionTable:
    rows = [
        TableRow(f"sample {i}", "finished", [RunRecord(f"t{i}", f"r{i}", f"sample {i}", "finished", 1, {}, {}, {})],
                 {"final val acc": single(1 - i / count)}, "best" if i == best else None)
        for i in range(count)
    ]  # fmt: skip
    return QuestionTable("run", [TableColumn("final val acc", 4)], rows, repeats=False)


def test_a_table_of_a_thousand_runs_shows_the_first_and_counts_the_rest() -> None:
    body = _table(1000, best=0).block().rows
    assert len(body) == SHOWN_ROWS + 1
    assert body[0][0] == "sample 0 (best)" and body[-1][0] == f"… {1000 - SHOWN_ROWS} more runs"


def test_a_marked_row_past_the_first_ones_is_kept() -> None:
    body = _table(1000, best=500).block().rows
    assert [row[0] for row in body][-2:] == ["sample 500 (best)", f"… {1000 - SHOWN_ROWS - 1} more runs"]


def test_a_short_table_is_whole() -> None:
    assert len(_table(SHOWN_ROWS, best=0).block().rows) == SHOWN_ROWS
