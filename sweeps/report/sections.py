"""One report section per question: its heading, its finding, then the section of the builders registered for
its kind. The same table builder gives the report's table and `Results.table()` (one source of numbers).

A kind without builders in KINDS says it has none.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sweeps.planned import PlannedQuestion
from sweeps.report.collect import StudyRecord
from sweeps.report.context import ReportContext
from sweeps.report.data_section import data_note
from sweeps.report.document import Block, Heading, Paragraph
from sweeps.report.finding import Finding, find
from sweeps.report.grid_section import grid_section, grid_table
from sweeps.report.search_section import search_section, search_table
from sweeps.report.stage_section import stage_section, stage_table
from sweeps.report.table import QuestionTable

TableBuilder = Callable[[PlannedQuestion, StudyRecord], QuestionTable]
SectionBuilder = Callable[[PlannedQuestion, QuestionTable, ReportContext], list[Block]]


@dataclass(frozen=True)
class Kind:
    table: TableBuilder  # the question's numbers
    section: SectionBuilder  # its text, that table and its figures


KINDS: dict[str, Kind] = {
    "grid": Kind(grid_table, grid_section),
    "search": Kind(search_table, search_section),
    "stage": Kind(stage_table, stage_section),
}


def question_table(question: PlannedQuestion, study: StudyRecord) -> QuestionTable | None:
    """The question's table; None for a kind that has no builder."""
    kind = KINDS.get(question.kind)
    return None if kind is None else kind.table(question, study)


def table_finding(table: QuestionTable) -> Finding:
    return find(table.rows, table.label)


def question_section(question: PlannedQuestion, context: ReportContext) -> list[Block]:
    heading = Heading(2, f"{question.id}: {question.text}", anchor=question.id)
    table = question_table(question, context.study)
    if table is None:
        return [heading, Paragraph(f"This report has no section for {question.kind} questions yet.")]
    note = data_note(question, context.study)
    return [
        heading,
        Paragraph(f"Finding: {table_finding(table).sentence}"),
        *KINDS[question.kind].section(question, table, context),
        *([note] if note else []),
    ]
