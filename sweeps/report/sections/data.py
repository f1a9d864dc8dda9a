"""Which data the results come from: an offline report's banner, the Data section (each data set once, with
its first training images) and the line by which a question refers to it.

A data set is named twice: by the study (`data.name`, e.g. fashion_mnist) and by the source its runs
read (`data.source`, tag `sweeps.data_source`: offline, a bundled stand-in such as garments). Both
are taken from the plan's trials and from the runs themselves, so the banner says what the runs used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from matplotlib.figure import Figure

from sweeps.record.tags import DATA_SOURCE, OFFLINE
from sweeps.report import figures
from sweeps.report.collect import StudyRecord
from sweeps.report.context import ReportContext
from sweeps.report.document import Block, Heading, Image, Notice, Paragraph, Table
from sweeps.report.samples import SAMPLE_COUNT, class_names, first_images
from sweeps.trials import PlannedQuestion
from trainables.errors import DataUnavailableError
from trainables.image.folder import FOLDER_SOURCE
from trainables.kinds import trainable_of

IMAGE = "image"  # the trainable whose data sets have sample images (trainables/image/)
ANCHOR = "data"


@dataclass
class DataSet:
    name: str  # as the study names it (data.name)
    source: str  # what the runs read (data.source)
    data: dict[str, Any]  # a trial's data config, to load its sample images; {} when only a run names it
    trainable: str
    questions: list[str] = field(default_factory=list)

    @property
    def stand_in(self) -> bool:
        return is_stand_in(self.name, self.source)

    @property
    def figure_name(self) -> str:
        """Sample images are drawn once per source; an image folder's are its own (folders differ by name)."""
        return f"{self.source}_{self.name}" if self.source == FOLDER_SOURCE else self.source


def is_stand_in(name: str, source: str) -> bool:
    """Whether runs read a stand-in for the data set the study names: another source than its own (a folder
    of the user's, whatever it is called, is itself)."""
    return name != source and source != FOLDER_SOURCE


def data_sets(study: StudyRecord) -> list[DataSet]:
    """Every (name, source) pair of the plan's trials and of the runs, in plan order."""
    found: dict[tuple[str, str], DataSet] = {}
    for trial in [*study.plan.trials, *study.plan.resolved]:
        data = trial.config["data"]
        entry = found.setdefault(
            (data["name"], data["source"]), DataSet(data["name"], data["source"], data, trainable_of(trial.config))
        )
        entry.questions += [question for question in trial.questions if question not in entry.questions]
    for run in study.runs.values():
        name, source = run.params.get("data.name"), run.tags.get(DATA_SOURCE, run.params.get("data.source"))
        if name and source and (name, source) not in found:
            found[(name, source)] = DataSet(name, source, {}, trainable_of(run.params))
    order = [question.id for question in study.plan.questions]
    for entry in found.values():
        entry.questions.sort(key=lambda question: order.index(question) if question in order else len(order))
    return list(found.values())


def _offline(study: StudyRecord) -> bool:
    return study.plan.runtime.offline or any(run.tags.get(OFFLINE) == "true" for run in study.runs.values())


def banner(study: StudyRecord, sets: list[DataSet]) -> list[Block]:
    """An offline report's notice naming each stand-in; nothing when every data set is itself."""
    stand_ins = [entry for entry in sets if entry.stand_in]
    if not _offline(study) or not stand_ins:
        return []
    named = ", ".join(f"{entry.source} stood in for {entry.name}" for entry in stand_ins)
    return [Notice(
        "Stand-in data.",
        f"This report was run offline (offline=true) on the bundled stand-in data sets: {named}. Every "
        "number below is a result on those stand-ins, not on the course material's data sets: compare the "
        "variants with each other, not with the assignment's figures.",
    )]


def data_section(sets: list[DataSet], context: ReportContext) -> list[Block]:
    """Each data set once: its source and the questions that use it, then its first training images."""
    blocks: list[Block] = [
        Heading(2, "Data", anchor=ANCHOR),
        Table(
            ["data set", "source read", "questions"],
            [[entry.name, entry.source, ", ".join(entry.questions) or "—"] for entry in sets],
        ),
    ]
    shown: set[str] = set()
    for entry in sets:
        if entry.trainable == IMAGE and entry.data and entry.figure_name not in shown:  # other kinds have no images
            shown.add(entry.figure_name)
            blocks.append(_samples(entry, context))
    return blocks


def data_note(question: PlannedQuestion, study: StudyRecord) -> Paragraph | None:
    """The line by which a question names its data: `Data: fashion_mnist (read as garments), …`."""
    trial_ids = [trial for variant in question.variants for trial in variant.trials] + question.samples
    configs = [study.plan.trial(trial).config["data"] for trial in trial_ids]
    pairs = dict.fromkeys((data["name"], data["source"]) for data in configs)
    if not pairs:
        return None
    named = ", ".join(f"{name} (read as the stand-in {source})" if is_stand_in(name, source) else name for name, source in pairs)
    return Paragraph(f"Data: {named}; sample images in the Data section.")


def _samples(entry: DataSet, context: ReportContext) -> Block:
    source = entry.source if entry.source != FOLDER_SOURCE else f"{entry.name} ({entry.source})"
    title = f"{source}: the first {SAMPLE_COUNT} training images, with their labels"
    data_root = context.study.plan.runtime.paths.data_root

    def draw() -> Figure:
        images, labels = first_images(entry.data, data_root, SAMPLE_COUNT)
        names = class_names(entry.data, data_root)
        return figures.image_grid(images, [names[label] for label in labels] if names else labels, title)

    try:
        return Image(context.figure(f"samples_{entry.figure_name}.png", draw), f"{title}.")
    except (DataUnavailableError, ValueError) as error:  # files gone; a folder no longer in its layout
        return Paragraph(f"Sample images of {source}: unavailable ({error}).")
