"""One report section per question: its heading, its finding, then the section of the builders registered for
its form (grid, search or stage). The same table builder gives the report's table and `Results.table()` (one source of numbers).

A form without builders in BY_FORM says it has none.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sweeps.report.collect import StudyRecord
from sweeps.report.context import ReportContext
from sweeps.report.document import Block, Heading, Paragraph
from sweeps.report.finding import Finding, find
from sweeps.report.sections.data import data_note
from sweeps.report.sections.grid import grid_section, grid_table
from sweeps.report.sections.search import search_section, search_table
from sweeps.report.sections.stage import stage_section, stage_table
from sweeps.report.table import QuestionTable
from sweeps.trials import PlannedQuestion

TableBuilder = Callable[[PlannedQuestion, StudyRecord], QuestionTable]
SectionBuilder = Callable[[PlannedQuestion, QuestionTable, ReportContext], list[Block]]


@dataclass(frozen=True)
class FormSections:
    table: TableBuilder  # the question's numbers
    section: SectionBuilder  # its text, that table and its figures


BY_FORM: dict[str, FormSections] = {
    "grid": FormSections(grid_table, grid_section),
    "search": FormSections(search_table, search_section),
    "stage": FormSections(stage_table, stage_section),
}


def question_table(question: PlannedQuestion, study: StudyRecord) -> QuestionTable | None:
    """The question's table; None for a form of question that has no builder."""
    builders = BY_FORM.get(question.form)
    return None if builders is None else builders.table(question, study)


def table_finding(table: QuestionTable) -> Finding:
    return find(table.rows, table.label)


def question_section(question: PlannedQuestion, context: ReportContext) -> list[Block]:
    heading = Heading(2, f"{question.id}: {question.text}", anchor=question.id)
    table = question_table(question, context.study)
    if table is None:
        return [heading, Paragraph(f"This report has no section for {question.form} questions yet.")]
    note = data_note(question, context.study)
    return [
        heading,
        Paragraph(f"Finding: {table_finding(table).sentence}"),
        *BY_FORM[question.form].section(question, table, context),
        *([note] if note else []),
    ]
