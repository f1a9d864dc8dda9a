"""A question's runs as the search and stage sections show them: status, final metric, val-accuracy curves.

Their trials are not in the plan: the runs are found in MLflow by tag, and the runner's tags say how
each one ended (finished, stopped early by the scheduler, diverged, failed).
"""

from __future__ import annotations

from sweeps.record.tags import CODE_HASH, OUTCOME, STOPPED_AT
from sweeps.report import figures
from sweeps.report.collect import RunRecord
from sweeps.report.context import ReportContext
from sweeps.report.document import Block, Image, Paragraph
from sweeps.trials import PlannedQuestion
from trainables.code import code_hash
from trainables.kinds import trainable_of


def run_status(run: RunRecord) -> str:
    """finished, stopped early at epoch N, diverged at epoch N, failed, running (or MLflow's status otherwise)."""
    if run.tags.get(OUTCOME) == "early_stopped":
        return f"stopped early at epoch {run.tags.get(STOPPED_AT, run.epochs_logged)}"
    if run.tags.get(OUTCOME) == "failed":
        return "failed"
    return run.described


def code_cell(runs: list[RunRecord]) -> str:
    """The code hash(es) the runs were trained by (`sweeps.code_hash`), each marked stale when it is not
    this checkout's; — when none is recorded."""
    cells = []
    for run in runs:
        recorded = run.tags.get(CODE_HASH)
        if recorded is None:
            continue
        cell = recorded + ("" if recorded == code_hash(trainable_of(run.params)) else " (stale)")
        if cell not in cells:
            cells.append(cell)
    return ", ".join(cells) or "—"


def final_metric(run: RunRecord, metric: str) -> float | None:
    """The metric's last per-epoch value, else its end-of-run value; None if the run logged neither."""
    values = run.curves.get(metric)
    return values[-1] if values else run.metrics.get(metric)


def val_acc_curve(run: RunRecord, label: str, thick: bool) -> figures.Curve:
    values = run.curves["val_acc"]
    return figures.Curve(label, list(range(run.first_epoch, run.first_epoch + len(values))), values, thick)


def val_acc_overlay(question: PlannedQuestion, lines: list[figures.Curve], context: ReportContext, caption: str) -> Block:
    """The runs' val accuracy per epoch in one figure, or a paragraph when no run has two epochs to draw."""
    if not lines:
        return Paragraph("Val accuracy per epoch: no run has logged an epoch yet.")
    if all(len(line.values) < 2 for line in lines):  # one point each (an evaluation-only stage): the table says it
        return Paragraph("Val accuracy per epoch: each run has a single value (no curve); it is in the table above.")
    title = f"{question.id}: val accuracy per epoch"
    relative = context.figure(
        f"{question.id}_val_acc.png", lambda: figures.overlaid_curves(lines, "val accuracy", title)
    )
    return Image(relative, f"{question.id}: {caption}")
