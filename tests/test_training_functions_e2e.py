"""End to end: a built-in study's questions trained by a training function of the user's own
(`trainable=spiral_train:train`, tests/courses/plugin/ on PYTHONPATH), through `sweep run` on a real
local Ray and a sqlite MLflow store: dedupe, per-epoch metrics, a search and its stages, `sweep report`,
resuming after a kill, and a function that breaks the contract failing once, in one line."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from helpers.sweep_cli import SweepCli, wait_for_first_epoch
from mlflow.tracking import MlflowClient

from trainables.code import trainable_code_hash

pytestmark = pytest.mark.slow

STUDY = "jhu_fashion"
PLUGIN = Path(__file__).parent / "courses" / "plugin"
FUNCTION = "spiral_train:train"


def plugin_env() -> dict[str, str]:
    """The course's folder on the Python path of the command and of every Ray worker it starts."""
    return {"PYTHONPATH": os.pathsep.join([*filter(None, [os.environ.get("PYTHONPATH")]), str(PLUGIN)])}


def trial_runs(sweep: SweepCli) -> list[object]:
    return [run for run in sweep.runs(STUDY) if run.data.tags["sweeps.kind"] == "trial"]


def test_a_function_study_runs_once_with_its_epochs_in_mlflow(sweep: SweepCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(PLUGIN))  # this process hashes the function's module too
    overrides = ("offline=true", f"trainable={FUNCTION}", "trainer.epochs=2", f"tracking.uri={sweep.uri}")
    questions = ("--questions", "q04,q13,q14,q15")
    overrides = (*overrides, "study.questions.11.search.num_samples=3")  # q13: a short search
    first = sweep("run", STUDY, *overrides, *questions, env=plugin_env(), timeout=1200)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "0 failed" in first.stdout

    client = MlflowClient(sweep.uri)
    runs = trial_runs(sweep)
    # q04: three optimizers, and q01's MNIST run that q15 compares with; q13: three samples; q14, q15: a stage trial each.
    assert len(runs) == 4 + 3 + 2 and all(run.info.status == "FINISHED" for run in runs)
    for run in runs:
        assert run.data.params["trainable"] == FUNCTION
        assert run.data.tags["sweeps.code_hash"] == trainable_code_hash(FUNCTION)
        assert {"train_loss", "val_loss", "val_acc", "lr", "epoch_seconds"} <= set(run.data.metrics) or (
            run.data.params["trainer.epochs"] == "0" and {"val_loss", "val_acc"} <= set(run.data.metrics)
        )
        epochs = int(run.data.params["trainer.epochs"])
        steps = [m.step for m in client.get_metric_history(run.info.run_id, "val_acc")]
        assert steps == (list(range(1, epochs + 1)) or [0])
        assert "checkpoint" in {a.path for a in client.list_artifacts(run.info.run_id)}  # its weights: what a stage starts from
    searched = {run.data.tags["sweeps.trial_id"] for run in runs if run.data.tags["sweeps.questions"] == "q13"}
    stages = [run for run in runs if run.data.tags["sweeps.questions"] in ("q14", "q15")]
    assert len(searched) == 3 and len(stages) == 2
    assert all(run.data.params["init_from"] in searched for run in stages)  # started from the search's best weights

    second = sweep("run", STUDY, *overrides, *questions, env=plugin_env())
    assert second.returncode == 0 and "0 trials to run" in second.stdout, second.stdout + second.stderr
    assert len(trial_runs(sweep)) == 9

    report = sweep("report", STUDY, *overrides, *questions, "--out", str(tmp_path / "report"), env=plugin_env())
    assert report.returncode == 0, report.stdout + report.stderr
    text = (tmp_path / "report" / "report.md").read_text()
    assert "## q04: " in text and "## q13: " in text and "## q15: " in text


def test_a_killed_function_study_resumes_from_its_checkpoints(sweep: SweepCli) -> None:
    overrides = ("offline=true", f"trainable={FUNCTION}", "trainer.epochs=4", "+data.points=60000", f"tracking.uri={sweep.uri}")
    process = sweep.popen("run", STUDY, *overrides, "--questions", "q04", env=plugin_env())
    wait_for_first_epoch(sweep.workdir / "mlflow.db", process)
    os.killpg(process.pid, signal.SIGKILL)
    process.communicate(timeout=120)
    sweep.kill()  # the Ray it started
    assert {run.info.status for run in trial_runs(sweep)} - {"FINISHED"}, "every trial had finished before the kill"

    again = sweep("run", STUDY, *overrides, "--questions", "q04", env=plugin_env())
    assert again.returncode == 0, again.stdout + again.stderr
    runs = trial_runs(sweep)
    assert len(runs) == 3 and all(run.info.status == "FINISHED" for run in runs)  # continued, not re-created
    client = MlflowClient(sweep.uri)
    for run in runs:
        for key in ("val_acc", "train_loss", "lr"):
            assert sorted(m.step for m in client.get_metric_history(run.info.run_id, key)) == [1, 2, 3, 4], key
    assert any("sweeps.resumed_from_epoch" in run.data.tags for run in runs)


def test_a_function_that_never_reports_fails_once_in_one_line(sweep: SweepCli) -> None:
    overrides = ("offline=true", "trainable=broken_train:never_reports", "trainer.epochs=2", f"tracking.uri={sweep.uri}")
    result = sweep("run", STUDY, *overrides, "--questions", "q01", env=plugin_env())
    assert result.returncode == 1, result.stdout + result.stderr
    line = "trainable broken_train:never_reports: returned without reporting an epoch (report() once per epoch)"
    runs = trial_runs(sweep)
    assert len(runs) == 2 and all(run.info.status == "FAILED" for run in runs)
    for run in runs:
        assert run.data.tags["sweeps.outcome"] == "failed" and run.data.tags["sweeps.error"] == line
        assert "sweeps.retries" not in run.data.tags  # not retried: no retry can mend it
    assert result.stdout.count(line) == 2 and "Traceback" not in result.stdout + result.stderr
