"""One report section per question: its heading, then the section of the builder registered for its kind.

A kind without a builder in SECTIONS says it has none.
"""

from __future__ import annotations

from sweeps.plan import PlannedQuestion
from sweeps.report.context import ReportContext, SectionBuilder
from sweeps.report.document import Block, Heading, Paragraph
from sweeps.report.grid_section import grid_section
from sweeps.report.search_section import search_section
from sweeps.report.stage_section import stage_section

SECTIONS: dict[str, SectionBuilder] = {"grid": grid_section, "search": search_section, "stage": stage_section}


def question_section(question: PlannedQuestion, context: ReportContext) -> list[Block]:
    heading = Heading(2, f"{question.id}: {question.text}", anchor=question.id)
    builder = SECTIONS.get(question.kind)
    if builder is None:
        return [heading, Paragraph(f"This report has no section for {question.kind} questions yet.")]
    return [heading, *builder(question, context)]
