"""A study's MLflow store written with chosen numbers, through the runner's own MLflow writer (no training).

`sweeps.record.tracking.StudyRuns` creates each trial's run with the real tags, logs its epochs and finishes it
with a confusion matrix in the runner's CSV layout, so `sweep report` and `sweep ui` read it as they
read a real study's store. Tests choose the numbers, so they know what the report must show.
"""

from __future__ import annotations

import csv
import io
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sweeps.config.sources import CONF_DIR
from sweeps.plan.build import plan_study
from sweeps.record.tracking import StudyRuns
from sweeps.trials import Plan, PlannedTrial

CLASSES = 10
MACHINE = {"hostname": "testhost", "cpu": "Test CPU", "cpu_count": "2", "memory_gib": "4.0", "gpu": "none"}


@dataclass(frozen=True)
class Outcome:
    """What a trial's run holds: its epochs (all of them, or fewer when it stopped), and whether it finished."""

    val_acc: list[float]  # per epoch; the other metrics are derived from it
    finished: bool = True


def epoch_metrics(outcome: Outcome) -> list[dict[str, float]]:
    """Every metric the runner logs per epoch, as simple functions of val_acc (a test recomputes them)."""
    return [
        {
            "epoch": epoch,
            "val_acc": acc,
            "train_acc": acc + 0.05,
            "val_loss": 2.0 - acc,
            "train_loss": 1.9 - acc,
            "epoch_seconds": 0.5 + 0.1 * epoch,
            "eval_seconds": 0.05,
            "examples_per_second": 1000.0 * epoch,
        }
        for epoch, acc in enumerate(outcome.val_acc, start=1)
    ]


def confusion_csv(correct: int) -> bytes:
    """The runner's confusion_matrix.csv layout: `correct` on the diagonal, one miss per row."""
    matrix = [[correct if i == j else int(j == (i + 1) % CLASSES) for j in range(CLASSES)] for i in range(CLASSES)]
    table = io.StringIO()
    csv.writer(table).writerows([["true\\predicted", *range(CLASSES)]] + [[i, *row] for i, row in enumerate(matrix)])
    return table.getvalue().encode()


def write_store(uri: str, plan: Plan, outcome: Callable[[PlannedTrial], Outcome | None]) -> dict[str, str]:
    """One run per planned trial that `outcome` gives an Outcome (None: the trial stays missing); trial id → run id."""
    runs = StudyRuns(uri, plan.study)
    written = {}
    for trial in plan.trials:
        chosen = outcome(trial)
        if chosen is None:
            continue
        run_id, _ = runs.open(trial, offline=True)
        runs.log_epochs(run_id, epoch_metrics(chosen))
        runs.set_tags(run_id, {f"sys.{key}": value for key, value in MACHINE.items()})
        if chosen.finished:
            runs.end_trial(run_id, "finished", {"confusion_matrix.csv": confusion_csv(correct=30)})
        written[trial.id] = run_id  # an unfinished run stays RUNNING, as a trial still training
    return written


# A question run three times per variant (no study has repeats yet), with chosen final accuracies: one variant
# clearly below the reference, one within noise of it, one with a single finished run.
REPEATS_STUDY = """\
# @package _global_
defaults:
  - override /data: digits
study:
  name: repeats
  title: Repeats of one question
  questions:
    - id: r01
      text: Learning rate ×0.1, ×0.5, ×1 and ×10, three seeds each.
      grid:
        optim.lr: [x0.1, x0.5, x1, x10]
      reference: {optim.lr: x1}
      repeats: 3
"""
REPEATS_VAL_ACC = {  # per variant (in grid order), per repeat: val_acc per epoch; None: the repeat never ran
    "x0.1": [Outcome([0.1, 0.2]), Outcome([0.2, 0.25]), Outcome([0.3, 0.3])],  # final 0.2, 0.25, 0.3
    "x0.5": [Outcome([0.4, 0.5]), Outcome([0.6, 0.65]), Outcome([0.6, 0.7])],  # final 0.5, 0.65, 0.7
    "x1": [Outcome([0.6, 0.5]), Outcome([0.5, 0.6]), Outcome([0.8, 0.7])],  # final 0.5, 0.6, 0.7; best 0.6, 0.6, 0.8
    "x10": [Outcome([0.3, 0.4]), Outcome([0.2], finished=False), None],  # one finished, one still training, one missing
}


def write_repeats_store(folder: Path) -> Plan:
    """The `repeats` study (in a copy of conf/ under `folder`) and its store at folder/mlflow.db; its plan."""
    conf = folder / "conf"
    shutil.copytree(CONF_DIR, conf)
    (conf / "study" / "repeats.yaml").write_text(REPEATS_STUDY)
    overrides = ["offline=true", "trainer.epochs=2", f"tracking.uri=sqlite:///{folder / 'mlflow.db'}"]
    plan = plan_study("repeats", overrides, conf_dir=conf)
    chosen = {
        trial: outcome
        for variant, outcomes in zip(plan.questions[0].variants, REPEATS_VAL_ACC.values(), strict=True)
        for trial, outcome in zip(variant.trials, outcomes, strict=True)
    }
    write_store(plan.runtime.tracking.uri, plan, lambda trial: chosen.get(trial.id))
    return plan
