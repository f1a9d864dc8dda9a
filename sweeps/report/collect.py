"""Reading a study's trial runs back from MLflow: per-epoch curves, end-of-run numbers, tags, artifacts.

Nothing is trained and nothing is written: a planned trial without a run is simply absent from
`StudyRecord.runs` (the report shows it as missing).
"""

from __future__ import annotations

import csv
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sweeps.errors import SweepError
from sweeps.plan import Plan
from sweeps.tracking import DIVERGED_AT, OUTCOME, QUESTIONS, client_for, store_exists, trial_runs

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


@dataclass(frozen=True)
class StudyRecord:
    plan: Plan
    experiment_id: str
    runs: dict[str, RunRecord]  # trial id → its run; planned trials without one are missing


def read_study(plan: Plan) -> StudyRecord:
    """The runs of every planned trial; a missing store or experiment is bad input (nothing to report)."""
    uri = plan.runtime.tracking.uri
    if not store_exists(uri):
        raise SweepError(f"tracking.uri: no MLflow store at {uri}; run `sweep run {plan.study}` first")
    client = client_for(uri)
    experiment = client.get_experiment_by_name(plan.study)
    if experiment is None:
        raise SweepError(f"tracking.uri: no experiment {plan.study!r} in {uri}; run `sweep run {plan.study}` first")
    found = trial_runs(client, experiment.experiment_id)
    planned = {trial.id: trial for trial in plan.trials}
    runs = {
        trial_id: _record(client, run, planned[trial_id].config["trainer"]["epochs"])
        for trial_id, run in found.items()
        if trial_id in planned
    }
    return StudyRecord(plan, experiment.experiment_id, runs)


def _record(client: Any, run: Any, planned_epochs: int) -> RunRecord:
    curves = {}
    for key in EPOCH_METRICS:
        by_epoch = {metric.step: metric.value for metric in client.get_metric_history(run.info.run_id, key)}
        curves[key] = [by_epoch[epoch] for epoch in sorted(by_epoch)]
    return RunRecord(
        trial_id=run.data.tags["sweeps.trial_id"],
        run_id=run.info.run_id,
        name=run.info.run_name,
        status="diverged" if run.data.tags.get(OUTCOME) == "diverged" else run.info.status.lower(),  # a FAILED run
        planned_epochs=planned_epochs,
        curves=curves,
        metrics=dict(run.data.metrics),
        tags=dict(run.data.tags),
        params=dict(run.data.params),
        start_time=run.info.start_time or 0,
    )


def question_runs(study: StudyRecord, question_id: str) -> list[RunRecord]:
    """Every trial run tagged as answering `question_id` (a search's samples, a stage's runs), oldest first.

    These trials are not in the plan: they are found by their tags, with trainer.epochs from their params.
    """
    client = client_for(study.plan.runtime.tracking.uri)
    found = trial_runs(client, study.experiment_id)
    answering = [run for run in found.values() if question_id in run.data.tags.get(QUESTIONS, "").split(",")]
    records = [_record(client, run, int(run.data.params.get("trainer.epochs", "0"))) for run in answering]
    return sorted(records, key=lambda record: record.start_time)


def trial_run(study: StudyRecord, trial_id: str) -> RunRecord | None:
    """The run of any trial, planned or not (a stage's source is a search's sample); None if it has none."""
    if trial_id in study.runs:
        return study.runs[trial_id]
    client = client_for(study.plan.runtime.tracking.uri)
    run = trial_runs(client, study.experiment_id).get(trial_id)
    return None if run is None else _record(client, run, int(run.data.params.get("trainer.epochs", "0")))


def read_confusion_matrix(uri: str, run_id: str) -> np.ndarray | None:
    """The run's test-set confusion matrix (rows: true class), or None when the run logged none."""
    client = client_for(uri)
    if CONFUSION_MATRIX not in {artifact.path for artifact in client.list_artifacts(run_id)}:
        return None
    with tempfile.TemporaryDirectory() as folder:
        text = Path(client.download_artifacts(run_id, CONFUSION_MATRIX, folder)).read_text()
    rows = list(csv.reader(text.splitlines()))[1:]  # below the header `true\predicted,0,1,…`
    return np.array([[int(count) for count in row[1:]] for row in rows], dtype=np.int64)
