"""What every section builder is given: the study read back from MLflow, and where its figures go.

A figure is drawn once per report, however many sections show it (questions share runs and data). A
report saves each as a PNG in its folder; without a folder (`sweeps.load(…).figure(…)`) they are kept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from matplotlib.figure import Figure

from sweeps.report.collect import StudyRecord
from sweeps.report.figures import save

FIGURES = "figures"  # sub-folder of the report folder (and of a summary run's artifacts)


@dataclass
class ReportContext:
    study: StudyRecord
    folder: Path | None  # the report folder; None: figures are kept in `kept`, not saved
    drawn: set[str] = field(default_factory=set)  # figures drawn, as paths relative to the folder
    kept: dict[str, Figure] = field(default_factory=dict)  # relative path → figure, without a folder

    def figure(self, name: str, draw: Callable[[], Figure]) -> str:
        """Figure `name`'s path relative to the report folder; drawn once (questions share runs and data)."""
        relative = f"{FIGURES}/{name}"
        if relative not in self.drawn:
            figure = draw()
            if self.folder is None:
                self.kept[relative] = figure
            else:
                save(figure, self.folder / relative)
            self.drawn.add(relative)
        return relative
