"""Two drivers and one MLflow store: a fresh sqlite store created by two processes at once, and which run
stands for a trial when a store holds several (two drivers at once, before leases): a finished one over any
other, then the one with the most epochs logged, so a run holding only epochs 5–8 never does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

from sweeps.record.store import client_for, trial_runs
from sweeps.record.tags import RUN_ROLE, TRIAL_ID
from sweeps.record.tracking import StudyRuns

OPEN_STORE = "import sys; from sweeps.record.tracking import StudyRuns; print(StudyRuns(sys.argv[1], 'study').experiment_id)"


def _run(client: MlflowClient, experiment: str, epochs: range, status: str) -> str:
    run_id = client.create_run(experiment, tags={RUN_ROLE: "trial", TRIAL_ID: "t1"}).info.run_id
    client.log_batch(run_id, metrics=[Metric("val_acc", 0.5, 0, epoch) for epoch in epochs])
    client.set_terminated(run_id, status)
    return run_id


def test_the_finished_run_with_every_epoch_stands_for_the_trial(tmp_path: Path) -> None:
    client = client_for(f"sqlite:///{tmp_path / 'mlflow.db'}", create=True)
    experiment = client.create_experiment("study")
    tail = _run(client, experiment, range(5, 9), "FINISHED")  # the second driver's: epochs 5–8 only
    longer_but_killed = _run(client, experiment, range(1, 10), "KILLED")
    whole = _run(client, experiment, range(1, 9), "FINISHED")
    assert trial_runs(client, experiment)["t1"].info.run_id == whole
    client.delete_run(whole)
    assert trial_runs(client, experiment)["t1"].info.run_id == tail  # finished beats more epochs
    client.delete_run(tail)
    assert trial_runs(client, experiment)["t1"].info.run_id == longer_but_killed


def test_two_processes_create_one_fresh_store_and_experiment(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    opening = [
        subprocess.Popen([sys.executable, "-c", OPEN_STORE, uri], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    results = [process.communicate(timeout=300) for process in opening]
    assert [process.returncode for process in opening] == [0, 0], results  # no `table … already exists`
    assert len({stdout.strip() for stdout, _ in results}) == 1  # one experiment, found by both
    assert StudyRuns(uri, "study").experiment_id == results[0][0].strip()


def test_a_run_whose_creation_answer_was_lost_is_found_not_created_twice(tmp_path: Path) -> None:
    """The store created the run but its answer never came back (a connection dropped): the outbox asks
    again, and the second try finds that run by its trial id instead of creating a twin."""
    from sweeps.plan.build import plan_study

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    trial = plan_study("jhu_fashion", ["offline=true", "trainer.epochs=1"], ["q08"]).trials[0]
    runs = StudyRuns(uri, "study")
    create_run = runs.client.create_run
    answers_lost = [ConnectionError("connection reset by peer")]

    def lose_first_answer(*args: object, **kwargs: object) -> object:
        created = create_run(*args, **kwargs)  # type: ignore[arg-type]
        if answers_lost:
            raise answers_lost.pop()
        return created

    runs.client.create_run = lose_first_answer  # type: ignore[method-assign]
    run_id, _ = runs.open(trial, offline=True)
    found = trial_runs(MlflowClient(uri), runs.experiment_id)
    assert list(found) == [trial.id] and found[trial.id].info.run_id == run_id
    assert len(MlflowClient(uri).search_runs([runs.experiment_id])) == 1
