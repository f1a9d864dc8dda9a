"""The section of a `grid` question: its variants (a grid or an explicit list) and their planned trials' runs.

What varies, the table (mean ± std over repeats), every planned trial with its run, the curves, final
accuracy vs each numeric axis, the best variant's confusion matrix and the data sets' sample images.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sweeps.plan import PlannedQuestion
from sweeps.report import figures
from sweeps.report.collect import read_confusion_matrix
from sweeps.report.context import ReportContext
from sweeps.report.document import Block, Image, Paragraph, Table
from sweeps.report.runs import code_cell
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
    varying_keys,
)
from trainables.errors import DataUnavailableError

IMAGE = "image"  # the trainable whose data sets have sample images (trainables/image/)


def grid_section(question: PlannedQuestion, context: ReportContext) -> list[Block]:
    """What varies, the table, the runs, the curves, metric vs each numeric axis, confusion matrix, samples."""
    rows = variant_rows(question, context.study)
    blocks: list[Block] = [Paragraph(_what_varies(question, rows))]
    if question.note:
        blocks.append(Paragraph(f"Note: {question.note}"))
    blocks += [_table(rows), _runs_table(rows), _curves(question, rows, context)]
    blocks += [_metric_vs_axis(question, rows, axis, context) for axis in _numeric_axes(question)]
    blocks += _confusion(question, rows, context)
    sources: dict[str, dict[str, Any]] = {}  # data source → the first of its configs the question uses
    for variant in question.variants:
        config = context.study.plan.trial(variant.trial).config
        if config.get("trainable", IMAGE) == IMAGE:  # other kinds of trainable have no images to show
            sources.setdefault(config["data"]["source"], config["data"])
    for data in sources.values():
        blocks += _samples(data, context)
    return blocks


def _what_varies(question: PlannedQuestion, rows: list[VariantRow]) -> str:
    keys = varying_keys(question)
    repeats = len(question.variants[0].trials)
    values = [
        f"{key} ∈ {{{', '.join(dict.fromkeys(format_value(v.overrides[key]) for v in question.variants if key in v.overrides))}}}"
        for key in keys
    ]
    text = f"Varies: {'; '.join(values) or ('only the seed' if repeats > 1 else 'nothing')}."
    common = [key for key in question.variants[0].overrides if key not in keys]
    if common:
        text += f" Every variant sets {variant_label(question.variants[0], common)}."
    text += "".join(f" Compared with: {row.label}." for row in rows if row.variant.reference)
    if repeats > 1:
        text += f" Each variant is run {repeats} times with seeds that differ: numbers are mean ± std (n − 1)."
    return text


def _curves(question: PlannedQuestion, rows: list[VariantRow], context: ReportContext) -> Image:
    title = f"{question.id}: loss and accuracy per epoch"
    relative = context.figure(f"{question.id}_curves.png", lambda path: figures.curves(rows, title, path))
    caption = f"{question.id}: train (solid) and val (dashed) loss and accuracy per epoch, one colour per variant."
    if any(len(row.variant.trials) > 1 for row in rows):
        caption += " Each thin line is one repeat, the thick line their mean, the band ± one std."
    return Image(relative, caption)


def _metric_vs_axis(question: PlannedQuestion, rows: list[VariantRow], axis: str, context: ReportContext) -> Block:
    series = _axis_series(question, rows, axis)
    if not series:
        return Paragraph(f"Accuracy vs {axis}: no variant has a finished run yet.")
    title = f"{question.id}: final accuracy vs {axis}"
    name = f"{question.id}_vs_{axis.replace('.', '_')}.png"
    relative = context.figure(name, lambda path: figures.metric_vs_axis(series, axis, title, path))
    return Image(relative, f"{question.id}: final val (solid) and train (dashed) accuracy vs {axis}, ± one std over repeats.")


def _table(rows: list[VariantRow]) -> Table:
    header = ["variant", "status", *[column.title for column in COLUMNS], "parameters", "code"]
    body = [
        [
            row.label + (" (reference)" if row.variant.reference else ""),
            row.status,
            *[format_stat(row.stats[column.title], column.digits) for column in COLUMNS],
            str(row.parameters),
            code_cell(row.finished or row.runs),
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
                body.append([row.label, trial_id, "missing", "—", "—", "—"])
            else:
                status = f"{run.epochs_logged}/{run.planned_epochs}"
                body.append([row.label, trial_id, run.status, status, run.name, code_cell([run])])
    return Table(["variant", "trial", "status", "epochs logged", "MLflow run", "code"], body)


def _numeric_axes(question: PlannedQuestion) -> list[str]:
    """Varying override keys that every variant sets to a number."""
    return [
        key
        for key in varying_keys(question)
        if all(_is_number(variant.overrides.get(key)) for variant in question.variants)
    ]


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _axis_series(question: PlannedQuestion, rows: list[VariantRow], axis: str) -> dict[str, list[figures.AxisPoint]]:
    """Points per combination of the other overrides (Q2: epochs, one series per data set)."""
    series: dict[str, list[figures.AxisPoint]] = {}
    others = [key for key in varying_keys(question) if key != axis]
    for row in rows:
        val, train = row.stats[FINAL_VAL_ACC.title], row.stats[FINAL_TRAIN_ACC.title]
        if val is None or train is None:
            continue
        name = variant_label(row.variant, others) if others else ""
        series.setdefault(name, []).append(figures.AxisPoint(float(row.variant.overrides[axis]), val, train))
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


def _samples(data: dict[str, Any], context: ReportContext) -> list[Block]:
    source = data["source"]
    title = f"{source}: the first {SAMPLE_COUNT} training images, with their labels"

    def draw(path: Path) -> None:
        images, labels = first_images(data, context.study.plan.runtime.paths.data_root, SAMPLE_COUNT)
        figures.image_grid(images, labels, title, path)

    try:
        return [Image(context.figure(f"samples_{source}.png", draw), f"{title}.")]
    except DataUnavailableError as error:
        return [Paragraph(f"Sample images of {source}: unavailable ({error}).")]
