"""The section of a `stage` question, from its runs (found in MLflow by tag) and the runs it is compared with.

Where it starts from (the trial whose final weights it loads), its runs and the runs named in
`compare_with` (resolved through the plan) in one table, and their val-accuracy curves.
"""

from __future__ import annotations

from sweeps.plan import PlannedQuestion
from sweeps.report.collect import RunRecord, question_runs, trial_run
from sweeps.report.context import ReportContext
from sweeps.report.document import Block, Paragraph, Table
from sweeps.report.runs import code_cell, final_metric, format_number, run_status, val_acc_curve, val_acc_overlay
from sweeps.report.stats import FINAL_VAL_ACC, TEST_ACC, TRAIN_SECONDS, format_value


def stage_section(question: PlannedQuestion, context: ReportContext) -> list[Block]:
    source = question.config.from_
    assert source is not None
    mode = "trains from" if question.config.train else "only evaluates (no training)"
    blocks: list[Block] = [Paragraph(
        f"Starts from the {source.select} trial of {source.question} by {source.metric} ({source.mode}) "
        f"and {mode} its final weights; variants: "
        + "; ".join(" ".join(f"{k}={format_value(v)}" for k, v in variant.overrides.items()) for variant in question.variants)
        + "."
    )]
    if question.note:
        blocks.append(Paragraph(f"Note: {question.note}"))
    runs = question_runs(context.study, question.id)
    if not runs:
        blocks.append(Paragraph(
            f"No run of {question.id} yet: it runs once {source.question} has a finished trial "
            f"(`sweep run {context.study.plan.study}`)."
        ))
    for init in dict.fromkeys(run.params.get("init_from", "") for run in runs):
        origin = trial_run(context.study, init) if init else None
        named = f"run {origin.name}" if origin is not None else "no run found"
        blocks.append(Paragraph(f"Starts from trial {init or '—'} ({named})."))
    compared: list[tuple[str, RunRecord]] = []
    for compare in question.config.compare_with:
        label = f"{compare.question} " + " ".join(f"{k}={format_value(v)}" for k, v in compare.variant.items())
        run = _compared_run(context, compare.question, compare.variant)
        if run is None:
            blocks.append(Paragraph(f"Compared with {label}: it has no run yet."))
        else:
            compared.append((label, run))
    rows = [(f"{question.id}: {run.name}", run) for run in runs] + compared
    if not rows:
        return blocks
    header = ["run", "status", FINAL_VAL_ACC.title, TEST_ACC.title, "epochs", TRAIN_SECONDS.title, "code"]
    body = [
        [
            label,
            run_status(run),
            format_number(final_metric(run, "val_acc"), 4),
            format_number(TEST_ACC.value(run), 4),
            str(run.planned_epochs if run.finished else run.epochs_logged),
            format_number(TRAIN_SECONDS.value(run), 2),
            code_cell([run]),
        ]
        for label, run in rows
    ]
    blocks.append(Table(header, body))
    stage_names = {run.run_id for run in runs}
    lines = [val_acc_curve(run, label, run.run_id in stage_names) for label, run in rows if run.curves.get("val_acc")]
    caption = f"val accuracy per epoch, {question.id}'s runs thick, the compared thin."
    blocks.append(val_acc_overlay(question, lines, context, caption))
    return blocks


def _compared_run(context: ReportContext, question_id: str, written: dict[str, object]) -> RunRecord | None:
    """The run of the first trial of `question_id`'s variant that sets every key of `written` as written."""
    try:
        other = context.study.plan.question(question_id)
    except StopIteration:
        return None
    for variant in other.variants:
        if variant.trials and all(variant.overrides.get(key) == value for key, value in written.items()):
            return trial_run(context.study, variant.trial)
    return None
