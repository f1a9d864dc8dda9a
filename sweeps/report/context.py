"""What every section builder is given: the study read back from MLflow and the report folder its figures go to.

A figure is drawn once per report, however many sections show it (questions share runs and data).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sweeps.plan import PlannedQuestion
from sweeps.report.collect import StudyRecord
from sweeps.report.document import Block

FIGURES = "figures"  # sub-folder of the report folder (and of a summary run's artifacts)


@dataclass
class ReportContext:
    study: StudyRecord
    folder: Path  # the report folder
    drawn: set[str] = field(default_factory=set)  # figures written by this report

    def figure(self, name: str, draw: Callable[[Path], object]) -> str:
        """Figure `name`'s path relative to the report folder; drawn once (questions share runs and data)."""
        relative = f"{FIGURES}/{name}"
        if relative not in self.drawn:
            draw(self.folder / relative)
            self.drawn.add(relative)
        return relative


SectionBuilder = Callable[[PlannedQuestion, ReportContext], list[Block]]
