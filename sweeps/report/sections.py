"""One report section per question, built by the renderer registered for the question's kind.

Every question today lists variants (a grid or an explicit list). A new kind (a search, a stage that
fine-tunes another question's checkpoint) adds its builder to SECTIONS under its kind's name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sweeps.plan import PlannedQuestion
from sweeps.report import figures
from sweeps.report.collect import StudyRecord, read_confusion_matrix
from sweeps.report.document import Block, Heading, Image, Paragraph, Table
from sweeps.report.samples import SAMPLE_COUNT, first_images
from sweeps.report.stats import (
    COLUMNS,
    FINAL_TRAIN_ACC,
    FINAL_VAL_ACC,
    VariantRow,
    best_row,
    format_stat,
    format_value,
    variant_label,
    variant_rows,
)
from trainables.data import DataUnavailableError

FIGURES = "figures"  # sub-folder of the report folder (and of a summary run's artifacts)
VARIANTS_KIND = "variants"


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


def question_kind(question: PlannedQuestion) -> str:
    # Planned questions carry no kind yet: all of them list variants.
    return getattr(question, "kind", VARIANTS_KIND)


def question_section(question: PlannedQuestion, context: ReportContext) -> list[Block]:
    kind = question_kind(question)
    heading = Heading(2, f"{question.id}: {question.text}", anchor=question.id)
    builder = SECTIONS.get(kind)
    if builder is None:
        return [heading, Paragraph(f"This report has no section for questions of kind {kind!r} yet.")]
    return [heading, *builder(question, context)]


def variants_section(question: PlannedQuestion, context: ReportContext) -> list[Block]:
    """What varies, the table, the runs, the curves, metric vs each numeric axis, confusion matrix, samples."""
    rows = variant_rows(question, context.study)
    blocks: list[Block] = [Paragraph(_what_varies(question))]
    if question.note:
        blocks.append(Paragraph(f"Note: {question.note}"))
    blocks += [_table(rows), _runs_table(rows), _curves(question, rows, context)]
    blocks += [_metric_vs_axis(question, rows, axis, context) for axis in _numeric_axes(question)]
    blocks += _confusion(question, rows, context)
    for source in dict.fromkeys(context.study.plan.trial(v.trial).config["data"]["source"] for v in question.variants):
        blocks += _samples(source, context)
    return blocks


SECTIONS: dict[str, SectionBuilder] = {VARIANTS_KIND: variants_section}


def _what_varies(question: PlannedQuestion) -> str:
    keys = dict.fromkeys(key for variant in question.variants for key in variant.overrides)
    values = {key: dict.fromkeys(format_value(v.overrides[key]) for v in question.variants if key in v.overrides) for key in keys}
    varies = "; ".join(f"{key} ∈ {{{', '.join(written)}}}" for key, written in values.items())
    reference = next((variant for variant in question.variants if variant.reference), None)
    compared = f" Compared with: {variant_label(reference)}." if reference else ""
    repeats = len(question.variants[0].trials)
    repeated = f" Each variant is run {repeats} times with seeds that differ: numbers are mean ± std (n − 1)." if repeats > 1 else ""
    return f"Varies: {varies or 'nothing'}.{compared}{repeated}"


def _curves(question: PlannedQuestion, rows: list[VariantRow], context: ReportContext) -> Image:
    title = f"{question.id}: loss and accuracy per epoch"
    relative = context.figure(f"{question.id}_curves.png", lambda path: figures.curves(rows, title, path))
    caption = f"{question.id}: train (solid) and val (dashed) loss and accuracy per epoch, one colour per variant."
    if any(len(row.variant.trials) > 1 for row in rows):
        caption += " Each thin line is one repeat, the thick line their mean, the band ± one std."
    return Image(relative, caption)


def _metric_vs_axis(question: PlannedQuestion, rows: list[VariantRow], axis: str, context: ReportContext) -> Block:
    series = _axis_series(rows, axis)
    if not series:
        return Paragraph(f"Accuracy vs {axis}: no variant has a finished run yet.")
    title = f"{question.id}: final accuracy vs {axis}"
    name = f"{question.id}_vs_{axis.replace('.', '_')}.png"
    relative = context.figure(name, lambda path: figures.metric_vs_axis(series, axis, title, path))
    return Image(relative, f"{question.id}: final val (solid) and train (dashed) accuracy vs {axis}, ± one std over repeats.")


def _table(rows: list[VariantRow]) -> Table:
    header = ["variant", "status", *[column.title for column in COLUMNS], "parameters"]
    body = [
        [
            row.label + (" (reference)" if row.variant.reference else ""),
            row.status,
            *[format_stat(row.stats[column.title], column.digits) for column in COLUMNS],
            str(row.parameters),
        ]
        for row in rows
    ]
    return Table(header, body)


def _runs_table(rows: list[VariantRow]) -> Table:
    """Every planned trial of the question, each with its MLflow run or marked missing."""
    body = []
    for row in rows:
        runs = {run.trial_id: run for run in row.runs}
        for trial_id in row.variant.trials:
            run = runs.get(trial_id)
            if run is None:
                body.append([row.label, trial_id, "missing", "—", "—"])
            else:
                body.append([row.label, trial_id, run.status, f"{run.epochs_logged}/{run.planned_epochs}", run.name])
    return Table(["variant", "trial", "status", "epochs logged", "MLflow run"], body)


def _numeric_axes(question: PlannedQuestion) -> list[str]:
    """Override keys that every variant sets to a number, with at least two different numbers."""
    keys = dict.fromkeys(key for variant in question.variants for key in variant.overrides)
    axes = []
    for key in keys:
        values = [variant.overrides.get(key) for variant in question.variants]
        numeric = all(isinstance(value, (int, float)) and not isinstance(value, bool) for value in values)
        if numeric and len(set(values)) > 1:
            axes.append(key)
    return axes


def _axis_series(rows: list[VariantRow], axis: str) -> dict[str, list[figures.AxisPoint]]:
    """Points per combination of the other overrides (Q2: epochs, one series per data set)."""
    series: dict[str, list[figures.AxisPoint]] = {}
    for row in rows:
        val, train = row.stats[FINAL_VAL_ACC.title], row.stats[FINAL_TRAIN_ACC.title]
        if val is None or train is None:
            continue
        others = " ".join(f"{k}={format_value(v)}" for k, v in row.variant.overrides.items() if k != axis)
        series.setdefault(others, []).append(figures.AxisPoint(float(row.variant.overrides[axis]), val, train))
    return series


def _confusion(question: PlannedQuestion, rows: list[VariantRow], context: ReportContext) -> list[Block]:
    best = best_row(rows)
    if best is None:
        return [Paragraph("Confusion matrix: no variant has a finished run yet.")]
    run = max(best.finished, key=lambda finished: FINAL_VAL_ACC.value(finished) or 0.0)
    matrix = read_confusion_matrix(context.study.plan.runtime.tracking.uri, run.run_id)
    if matrix is None:
        return [Paragraph(f"Confusion matrix: run {run.name} logged none.")]
    relative = context.figure(
        f"confusion_{run.trial_id}.png", lambda path: figures.confusion_matrix(matrix, f"run {run.name}", path)
    )
    return [Image(relative, f"{question.id}: test-set confusion matrix of the best variant, {best.label} (run {run.name}).")]


def _samples(source: str, context: ReportContext) -> list[Block]:
    plan = context.study.plan
    data = next(trial.config["data"] for trial in plan.trials if trial.config["data"]["source"] == source)
    title = f"{source}: the first {SAMPLE_COUNT} training images, with their labels"

    def draw(path: Path) -> None:
        images, labels = first_images(data, plan.runtime.paths.data_root, SAMPLE_COUNT)
        figures.image_grid(images, labels, title, path)

    try:
        return [Image(context.figure(f"samples_{source}.png", draw), f"{title}.")]
    except DataUnavailableError as error:
        return [Paragraph(f"Sample images of {source}: unavailable ({error}).")]
