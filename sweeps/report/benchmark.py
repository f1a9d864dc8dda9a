"""benchmark.md: one row per trial run (a search's samples and a stage's included) with its timings, grouped by
the machine it ran on (tags `sys.*`)."""

from __future__ import annotations

import statistics

from sweeps.report.collect import RunRecord, StudyRecord
from sweeps.report.document import Block, Heading, Paragraph, Table
from sweeps.report.runs import code_cell
from sweeps.report.stats import SECONDS_PER_EPOCH, TEST_ACC, TRAIN_SECONDS, Column, end_of_run, over_epochs

MACHINE = ("hostname", "os", "cpu", "cpu_count", "memory_gib", "gpu", "python", "torch")  # tags sys.<name>
TIMINGS: tuple[Column, ...] = (
    TRAIN_SECONDS,
    SECONDS_PER_EPOCH,
    Column("eval seconds / epoch", over_epochs("eval_seconds", statistics.fmean), 3),
    Column("examples / second", over_epochs("examples_per_second", statistics.fmean), 0),  # training passes
    # Phases of the whole run, logged once at its end; runs logged before they existed show "—".
    Column("data load s", end_of_run("phase_data_load_seconds"), 2),
    Column("build s", end_of_run("phase_build_seconds"), 2),
    Column("train phase s", end_of_run("phase_train_seconds"), 2),
    Column("test s", end_of_run("phase_test_seconds"), 2),
    TEST_ACC,
)


def benchmark_blocks(study: StudyRecord) -> list[Block]:
    runs = list(study.runs.values())  # the grid's, a search's samples and a stage's: every trial run
    machines: dict[tuple[str, ...], list[RunRecord]] = {}
    for run in runs:
        machines.setdefault(tuple(run.tags.get(f"sys.{name}", "—") for name in MACHINE), []).append(run)
    blocks: list[Block] = [
        Paragraph(
            f"{len(runs)} runs on {len(machines)} machine(s). Seconds are wall-clock; train seconds sum the "
            "epochs' training passes; examples / second is the mean over epochs of the training pass."
        ),
    ]
    for index, (machine, grouped) in enumerate(machines.items(), start=1):
        blocks.append(Heading(3, f"Machine {index}: {machine[0]}"))
        blocks.append(Table(list(MACHINE), [list(machine)]))
        header = ["run", "trial", "status", "epochs", *[column.title for column in TIMINGS], "code"]
        body = [
            [run.name, run.trial_id, run.described, str(run.epochs_logged), *(_cell(column, run) for column in TIMINGS), code_cell([run])]
            for run in grouped
        ]
        blocks.append(Table(header, body))
    return blocks


def _cell(column: Column, run: RunRecord) -> str:
    value = column.value(run)
    return "—" if value is None else f"{value:.{column.digits}f}"
