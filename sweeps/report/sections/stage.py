"""The section of a `stage` question, from its runs (found in MLflow by tag) and the runs it is compared with.

Where it starts from (the trial whose final weights it loads), its runs and the runs named in
`compare_with` (resolved through the plan, the reference of the comparison) in one table, and their
val-accuracy curves.
"""

from __future__ import annotations

from sweeps.report.collect import RunRecord, StudyRecord, question_runs
from sweeps.report.context import ReportContext
from sweeps.report.document import Block, Paragraph
from sweeps.report.runs import final_metric, run_status, val_acc_curve, val_acc_overlay
from sweeps.report.stats import FINAL_VAL_ACC, TEST_ACC, TRAIN_SECONDS, format_value
from sweeps.report.table import REFERENCE, QuestionTable, TableColumn, TableRow, single
from sweeps.trials import PlannedQuestion

EPOCHS = TableColumn("epochs")  # trained (0: evaluation only), or logged so far by an unfinished run
COLUMNS = [TableColumn(column.title, column.digits) for column in (FINAL_VAL_ACC, TEST_ACC, TRAIN_SECONDS)]


def stage_table(question: PlannedQuestion, study: StudyRecord) -> QuestionTable:
    """The stage's runs, then each run it is compared with (the reference)."""
    rows = [_row(run.name, run, None) for run in question_runs(study, question.id)]
    rows += [_row(label, run, REFERENCE) for label, run in _compared(question, study) if run is not None]
    return QuestionTable("run", [*COLUMNS, EPOCHS], rows, repeats=False)


def _row(label: str, run: RunRecord, role: str | None) -> TableRow:
    cells = {
        FINAL_VAL_ACC.title: single(final_metric(run, "val_acc")),
        TEST_ACC.title: single(TEST_ACC.value(run)),
        TRAIN_SECONDS.title: single(TRAIN_SECONDS.value(run)),
        EPOCHS.title: run.planned_epochs if run.finished else run.epochs_logged,
    }
    return TableRow(label, run_status(run), [run], cells, role)


def stage_section(question: PlannedQuestion, table: QuestionTable, context: ReportContext) -> list[Block]:
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
        origin = context.study.runs.get(init) if init else None
        named = f"run {origin.name}" if origin is not None else "no run found"
        blocks.append(Paragraph(f"Starts from trial {init or '—'} ({named})."))
    blocks += [
        Paragraph(f"Compared with {label}: it has no run yet.")
        for label, run in _compared(question, context.study)
        if run is None
    ]
    if not table.rows:
        return blocks
    blocks.append(table.block())
    lines = [val_acc_curve(row.runs[0], row.label, not row.reference) for row in table.rows if row.runs[0].curves.get("val_acc")]
    caption = f"val accuracy per epoch, {question.id}'s runs thick, the compared thin."
    blocks.append(val_acc_overlay(question, lines, context, caption))
    return blocks


def _compared(question: PlannedQuestion, study: StudyRecord) -> list[tuple[str, RunRecord | None]]:
    """Each `compare_with` entry's label and the run of the first trial of that question's variant that sets
    every key as written (None: no such run)."""
    found: list[tuple[str, RunRecord | None]] = []
    for compare in question.config.compare_with:
        label = f"{compare.question} " + " ".join(f"{k}={format_value(v)}" for k, v in compare.variant.items())
        other = next((q for q in study.plan.questions if q.id == compare.question), None)
        variants = other.variants if other is not None else []
        trial = next(
            (v.trial for v in variants if v.trials and all(v.overrides.get(k) == x for k, x in compare.variant.items())),
            None,
        )
        found.append((label, study.runs.get(trial) if trial else None))
    return found
