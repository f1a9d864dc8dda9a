"""The section of a `search` question, from the runs of its samples (found in MLflow by tag: not in the plan).

Its settings, every sample (sorted by its final metric, the best marked), the trials over time and every
sample's val-accuracy curve.
"""

from __future__ import annotations

import json
from typing import Any

from sweeps.record.tags import OUTCOME
from sweeps.report import figures
from sweeps.report.collect import RunRecord, StudyRecord, question_runs
from sweeps.report.context import ReportContext
from sweeps.report.document import Block, Image, Paragraph
from sweeps.report.runs import final_metric, run_status, val_acc_curve, val_acc_overlay
from sweeps.report.stats import FINAL_VAL_ACC, format_value
from sweeps.report.table import QuestionTable, TableColumn, TableRow, single
from sweeps.trials import PlannedQuestion

BEST = "best"  # the role of the best sample's row


def search_table(question: PlannedQuestion, study: StudyRecord) -> QuestionTable:
    """Every sample's run, best first by the search's final metric (the best marked), with what was sampled."""
    search = question.config.search
    assert search is not None
    runs = question_runs(study, question.id)
    best = _best(question, runs)
    sign = 1.0 if search.mode == "max" else -1.0
    metrics = list(dict.fromkeys([search.metric, "val_acc"]))  # the search's metric, then val acc: once each
    columns = [TableColumn(f"final {metric.replace('_', ' ')}", FINAL_VAL_ACC.digits) for metric in metrics]
    columns += [TableColumn(key) for key in search.space]
    rows = [
        TableRow(
            run.name,
            run_status(run),
            [run],
            {
                **{column.title: single(final_metric(run, metric)) for column, metric in zip(columns, metrics, strict=False)},
                **{key: _sampled(run, key) for key in search.space},
            },
            BEST if run is best else None,
        )
        for run in sorted(runs, key=lambda run: _rank(run, search.metric, sign))
    ]
    return QuestionTable("run", columns, rows, repeats=False)


def _best(question: PlannedQuestion, runs: list[RunRecord]) -> RunRecord | None:
    """The finished sample with the best final metric (early-stopped ones never count)."""
    search = question.config.search
    assert search is not None
    sign = 1.0 if search.mode == "max" else -1.0
    scored = [run for run in runs if run.finished and final_metric(run, search.metric) is not None]
    # operator: `scored` holds only runs with a final metric, which mypy cannot see through the lambda
    return max(scored, key=lambda run: sign * final_metric(run, search.metric), default=None)  # type: ignore[operator]


def search_section(question: PlannedQuestion, table: QuestionTable, context: ReportContext) -> list[Block]:
    search = question.config.search
    assert search is not None
    scheduler = search.scheduler
    stopping = (
        f"ASHA (grace period {scheduler.grace_period} epochs, reduction factor {format_value(scheduler.reduction_factor)})"
        if scheduler.name == "asha"
        else "none"
    )
    space = "; ".join(f"{key} ∈ {value}" for key, value in search.space.items())
    fixed = f" Fixed: {', '.join(f'{k}={format_value(v)}' for k, v in search.fixed.items())}." if search.fixed else ""
    blocks: list[Block] = [
        Paragraph(
            f"Search space: {space}.{fixed} Optimises {search.metric} ({search.mode}) over {search.num_samples} "
            f"samples; early stopping: {stopping}."
        )
    ]
    if question.note:
        blocks.append(Paragraph(f"Note: {question.note}"))
    runs = question_runs(context.study, question.id)
    if not runs:
        return [*blocks, Paragraph(f"No sample of {question.id} has a run yet: run `sweep run {context.study.plan.study}`.")]
    best = _best(question, runs)
    blocks.append(Paragraph(_summary(runs, best, search.metric, search.num_samples)))
    blocks.append(table.block())
    points = [
        figures.TrialPoint(order, value, run.tags.get(OUTCOME) == "early_stopped", run is best)
        for order, run in enumerate(runs, start=1)
        if (value := final_metric(run, search.metric)) is not None
    ]
    title = f"{question.id}: trials over time"
    relative = context.figure(f"{question.id}_trials.png", lambda: figures.trials_over_time(points, search.metric, title))
    blocks.append(Image(relative, f"{question.id}: final {search.metric} of each sample in the order it started; "
                                  "dots finished, crosses were stopped early, the star is the best."))
    sign = 1.0 if search.mode == "max" else -1.0
    ordered = runs if len(runs) <= figures.LEGEND_ENTRIES else sorted(runs, key=lambda run: _rank(run, search.metric, sign))
    lines = [  # past a legend's worth, best first: the best samples are the ones named
        val_acc_curve(run, run.name + (f" ({BEST})" if run is best else ""), run is best)
        for run in ordered
        if run.curves.get("val_acc")
    ]
    blocks.append(val_acc_overlay(question, lines, context, "every sample's val accuracy per epoch; the best thick."))
    return blocks


def _rank(run: RunRecord, metric: str, sign: float) -> tuple[int, float, int]:
    value = final_metric(run, metric)
    return (value is None, -sign * (value or 0.0), run.start_time)


def _summary(runs: list[RunRecord], best: RunRecord | None, metric: str, samples: int) -> str:
    counts: dict[str, int] = {}
    for run in runs:
        status = "stopped early" if run.tags.get(OUTCOME) == "early_stopped" else run_status(run)
        counts[status] = counts.get(status, 0) + 1
    text = f"{len(runs)} of {samples} samples have a run: " + ", ".join(f"{n} {s}" for s, n in counts.items()) + "."
    if best is not None:
        text += f" Best: {best.name} ({metric} {final_metric(best, metric):.4f})."
    return text


def _sampled(run: RunRecord, key: str) -> Any:
    """The sampled value of a space key (None: not logged); a config group (`model`) by its name (`model.name`)."""
    raw = run.params.get(key, run.params.get(f"{key}.name"))
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw
