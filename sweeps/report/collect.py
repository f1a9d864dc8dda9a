"""Reading a study's trial runs back from MLflow: per-epoch curves, end-of-run numbers, tags, artifacts.

Nothing is trained and nothing is written: a planned trial without a run is simply absent from
`StudyRecord.runs` (the report shows it as missing). The plan is completed from the store first
(sweeps.plan.from_store), so a search's samples and a stage's trials are read with the grid's.
"""

from __future__ import annotations

import csv
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sweeps.errors import SweepError
from sweeps.plan.from_store import complete_plan
from sweeps.record.store import client_for, status_of, store_exists
from sweeps.record.tags import DIVERGED_AT, QUESTIONS, TRIAL_ID
from sweeps.trials import Plan

if TYPE_CHECKING:  # imported late where used: mlflow costs seconds to import
    from mlflow.tracking import MlflowClient

    from sweeps.record.store import StoredRun

# Logged every epoch (step = epoch) by the runner.
EPOCH_METRICS = ("train_loss", "train_acc", "val_loss", "val_acc", "epoch_seconds", "eval_seconds", "examples_per_second")
CONFUSION_MATRIX = "confusion_matrix.csv"


@dataclass(frozen=True)
class RunRecord:
    trial_id: str
    run_id: str
    name: str
    status: str  # MLflow's run status in lower case (finished, running, killed, failed), or diverged
    planned_epochs: int  # trainer.epochs of the trial
    curves: dict[str, list[float]]  # metric → value per epoch, epoch 1 first (EPOCH_METRICS)
    metrics: dict[str, float]  # every metric's latest value, end-of-run ones (test_acc, phase_*) included
    tags: dict[str, str]
    params: dict[str, str] = field(default_factory=dict)  # the flattened trial config (optim.lr, init_from, …)
    start_time: int = 0  # ms since the epoch, when the run was created

    @property
    def finished(self) -> bool:
        return self.status == "finished"

    @property
    def epochs_logged(self) -> int:
        return len(self.curves.get("val_acc", []))

    @property
    def described(self) -> str:
        """The status as a reader wants it: `diverged at epoch 3` for a trial whose training loss went non-finite."""
        return f"diverged at epoch {self.tags.get(DIVERGED_AT, '?')}" if self.status == "diverged" else self.status

    @property
    def first_epoch(self) -> int:
        """The step of its first per-epoch value: 0 for an evaluation-only stage (0 epochs), else 1."""
        return 0 if self.planned_epochs == 0 else 1


@dataclass(frozen=True)
class StudyRecord:
    plan: Plan  # completed from the store: a search's samples and a stage's trials included
    experiment_id: str
    # trial id → its run: the plan's trials that have one, then any other run answering one of its
    # searches or stages (a stage run from an earlier best trial), oldest first
    runs: dict[str, RunRecord]


def read_study(plan: Plan) -> StudyRecord:
    """The runs of every planned trial; a missing store or experiment is bad input (nothing to report)."""
    uri = plan.runtime.tracking.uri
    if not store_exists(uri):
        raise SweepError(f"tracking.uri: no MLflow store at {uri}; run `sweep run {plan.study}` first")
    client = client_for(uri)
    experiment = client.get_experiment_by_name(plan.study)
    if experiment is None:
        raise SweepError(f"tracking.uri: no experiment {plan.study!r} in {uri}; run `sweep run {plan.study}` first")
    found = complete_plan(plan)
    later = {question.id for question in plan.questions if question.form != "grid"}
    others = sorted(
        (run for trial_id, run in found.items() if later & set(run.data.tags.get(QUESTIONS, "").split(","))),
        key=lambda run: run.info.start_time or 0,
    )
    chosen = {trial.id: found[trial.id] for trial in [*plan.trials, *plan.resolved] if trial.id in found}
    chosen.update({run.data.tags[TRIAL_ID]: run for run in others if run.data.tags[TRIAL_ID] not in chosen})
    return StudyRecord(plan, experiment.experiment_id, {trial_id: _record(client, run) for trial_id, run in chosen.items()})


def _record(client: MlflowClient, run: StoredRun) -> RunRecord:
    return RunRecord(
        trial_id=run.data.tags[TRIAL_ID],
        run_id=run.info.run_id,
        name=run.info.run_name,
        status=status_of(run) if status_of(run) == "diverged" else run.info.status.lower(),  # diverged: a FAILED run
        planned_epochs=int(run.data.params.get("trainer.epochs", "0")),
        curves=_curves(client, run),
        metrics=dict(run.data.metrics),
        tags=dict(run.data.tags),
        params=dict(run.data.params),
        start_time=run.info.start_time or 0,
    )


def _curves(client: MlflowClient, run: StoredRun) -> dict[str, list[float]]:
    """Each per-epoch metric's values, epoch 1 (or 0) first. A run of at most one epoch logs one step, so its
    latest values (read with the run) are its curves: no request per metric, which a study of thousands
    of one-epoch trials would make by the ten thousand."""
    if int(run.data.params.get("trainer.epochs", "2")) <= 1:
        return {key: [run.data.metrics[key]] if key in run.data.metrics else [] for key in EPOCH_METRICS}
    curves = {}
    for key in EPOCH_METRICS:
        by_epoch = {metric.step: metric.value for metric in client.get_metric_history(run.info.run_id, key)}
        curves[key] = [by_epoch[epoch] for epoch in sorted(by_epoch)]
    return curves


def question_runs(study: StudyRecord, question_id: str) -> list[RunRecord]:
    """Every trial run tagged as answering `question_id` (a search's samples, a stage's runs), oldest first."""
    answering = [run for run in study.runs.values() if question_id in run.tags.get(QUESTIONS, "").split(",")]
    return sorted(answering, key=lambda record: record.start_time)


def read_confusion_matrix(uri: str, run_id: str) -> np.ndarray | None:
    """The run's test-set confusion matrix (rows: true class), or None when the run logged none."""
    client = client_for(uri)
    if CONFUSION_MATRIX not in {artifact.path for artifact in client.list_artifacts(run_id)}:
        return None
    with tempfile.TemporaryDirectory() as folder:
        text = Path(client.download_artifacts(run_id, CONFUSION_MATRIX, folder)).read_text()
    rows = list(csv.reader(text.splitlines()))[1:]  # below the header `true\predicted,0,1,…`
    return np.array([[int(count) for count in row[1:]] for row in rows], dtype=np.int64)
