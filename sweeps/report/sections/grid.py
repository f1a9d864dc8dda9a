"""The section of a `grid` question: its variants (a grid or an explicit list) and their planned trials' runs.

What varies, the table (mean ± std over repeats), every planned trial with its run, the curves, final
accuracy vs each numeric axis and the best variant's confusion matrix.
"""

from __future__ import annotations

from sweeps.report import figures
from sweeps.report.collect import StudyRecord, read_confusion_matrix
from sweeps.report.context import ReportContext
from sweeps.report.document import Block, Image, Paragraph, Table
from sweeps.report.runs import code_cell
from sweeps.report.samples import class_names
from sweeps.report.stats import (
    COLUMNS,
    FINAL_TRAIN_ACC,
    FINAL_VAL_ACC,
    VariantRow,
    best_row,
    format_value,
    variant_label,
    variant_rows,
    varying_keys,
)
from sweeps.report.table import REFERENCE, QuestionTable, TableColumn, TableRow
from sweeps.trials import PlannedQuestion

PARAMETERS = TableColumn("parameters")


def grid_table(question: PlannedQuestion, study: StudyRecord) -> QuestionTable:
    """Per variant: its status, each column's mean ± std over its finished runs, and its model's parameters."""
    rows = [
        TableRow(
            row.label,
            row.status,
            row.runs,
            {**row.stats, PARAMETERS.title: row.parameters},
            REFERENCE if row.variant.reference else None,
        )
        for row in variant_rows(question, study)
    ]
    columns = [TableColumn(column.title, column.digits) for column in COLUMNS] + [PARAMETERS]
    return QuestionTable("variant", columns, rows, repeats=question.config.repeats > 1)


def grid_section(question: PlannedQuestion, table: QuestionTable, context: ReportContext) -> list[Block]:
    """What varies, the table, the runs, the curves, metric vs each numeric axis, the confusion matrix."""
    rows = variant_rows(question, context.study)
    blocks: list[Block] = [Paragraph(_what_varies(question, rows))]
    if question.note:
        blocks.append(Paragraph(f"Note: {question.note}"))
    blocks += [table.block(), _runs_table(rows), _curves(question, rows, context)]
    blocks += [_metric_vs_axis(question, rows, axis, context) for axis in _numeric_axes(question)]
    blocks += _confusion(question, rows, context)
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


def _curves(question: PlannedQuestion, rows: list[VariantRow], context: ReportContext) -> Block:
    if all(run.epochs_logged < 2 for row in rows for run in row.runs):  # a curve needs two points
        return Paragraph("Curves: no run has two epochs to draw (a curve of one point is not drawn); the numbers are in the tables above.")
    title = f"{question.id}: loss and accuracy per epoch"
    relative = context.figure(f"{question.id}_curves.png", lambda: figures.curves(rows, title))
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
    relative = context.figure(name, lambda: figures.metric_vs_axis(series, axis, title))
    return Image(relative, f"{question.id}: final val (solid) and train (dashed) accuracy vs {axis}, ± one std over repeats.")


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
                body.append([row.label, trial_id, run.described, status, run.name, code_cell([run])])
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
    names = class_names(context.study.plan.trial(run.trial_id).config["data"], context.study.plan.runtime.paths.data_root)
    relative = context.figure(
        f"confusion_{run.trial_id}.png", lambda: figures.confusion_matrix(matrix, f"run {run.name}", names)
    )
    return [Image(relative, f"{question.id}: test-set confusion matrix of the best variant, {best.label} (run {run.name}).")]
