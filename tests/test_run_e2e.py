"""End to end: `sweep run` against a real local Ray and a real sqlite MLflow store in a temp dir.

Each test runs the CLI as a user would (a subprocess in its own session, so an interruption can be
delivered to it alone) with HOME and RAY_TMPDIR isolated, and reads the results back from MLflow.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

pytestmark = pytest.mark.slow

STUDY = "jhu_fashion"
METRICS = {"train_loss", "train_acc", "val_loss", "val_acc", "epoch_seconds", "examples_per_second"}


_RAY_TMP: dict[Path, Path] = {}  # working dir → its private RAY_TMPDIR


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    """A working directory with its own HOME and a short RAY_TMPDIR (Ray's socket paths are length-limited)."""
    _RAY_TMP[tmp_path] = Path(tempfile.mkdtemp(prefix="swr", dir="/tmp"))
    (tmp_path / "home").mkdir()
    yield tmp_path
    ray_tmp = _RAY_TMP.pop(tmp_path)
    _kill_leftovers(ray_tmp)
    shutil.rmtree(ray_tmp, ignore_errors=True)


def _env(workdir: Path) -> dict[str, str]:
    return {**os.environ, "HOME": str(workdir / "home"), "RAY_TMPDIR": str(_RAY_TMP[workdir]), "PYTHONUNBUFFERED": "1"}


def _sweep(workdir: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sweeps", *args],
        cwd=workdir,
        env=_env(workdir),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _kill_leftovers(ray_tmp: Path) -> None:
    """Stop only the Ray processes this test started (found by its private temp dir), never others'."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
            environ = (proc / "environ").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if str(ray_tmp) in cmdline or f"RAY_TMPDIR={ray_tmp}" in environ:
            try:
                os.kill(int(proc.name), signal.SIGKILL)
            except ProcessLookupError:
                pass


def _uri(workdir: Path) -> str:
    return f"sqlite:///{workdir / 'mlflow.db'}"


def _runs(workdir: Path) -> list:
    client = MlflowClient(_uri(workdir))
    experiment = client.get_experiment_by_name(STUDY)
    return client.search_runs([experiment.experiment_id], max_results=1000)


def _plan(workdir: Path, study: str, *overrides: str) -> dict:
    result = _sweep(workdir, "plan", study, *overrides, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_whole_study_runs_once_and_a_second_invocation_runs_nothing(workdir: Path) -> None:
    overrides = ("offline=true", "trainer.epochs=1", f"tracking.uri={_uri(workdir)}")
    plan = _plan(workdir, STUDY, *overrides)
    assert len(plan["trials"]) == 20

    first = _sweep(workdir, "run", STUDY, *overrides)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "0 failed" in first.stdout and "interrupted" not in first.stdout

    trial_runs = [run for run in _runs(workdir) if run.data.tags["sweeps.kind"] == "trial"]
    # Q1–Q12: the 20 planned trials; Q13: its 12 samples; Q14 and Q15: one stage trial each.
    assert len(trial_runs) == 20 + 12 + 2
    client = MlflowClient(_uri(workdir))
    by_trial = {run.data.tags["sweeps.trial_id"]: run for run in trial_runs}
    assert len(by_trial) == len(trial_runs)  # one run per trial id
    runs = [by_trial[trial["id"]] for trial in plan["trials"]]
    for trial in plan["trials"]:
        run = by_trial[trial["id"]]
        assert run.info.status == "FINISHED"
        assert run.data.tags["sweeps.questions"] == ",".join(trial["questions"])
        assert run.data.tags["sweeps.study"] == STUDY
        assert run.data.tags["sweeps.kind"] == "trial"
        assert run.data.tags["sys.torch"] and run.data.tags["sys.cpu_count"]
        assert METRICS <= set(run.data.metrics)
        assert 0.0 <= run.data.metrics["val_acc"] <= 1.0
        epochs = json.loads(run.data.params["trainer.epochs"])
        steps = [m.step for m in client.get_metric_history(run.info.run_id, "val_acc")]
        assert steps == list(range(1, epochs + 1))  # Q2's doubled runs have 2 epochs, the rest 1
        assert run.data.params["data.source"] in {"mnist_5k", "garments"}
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {"config.yaml", "confusion_matrix.csv", "checkpoint", "machine.json"} <= artifacts
    q01 = [run for run in runs if "q01" in run.data.tags["sweeps.questions"].split(",")]
    assert {run.data.params["data.source"] for run in q01} == {"mnist_5k", "garments"}

    started = time.monotonic()
    second = _sweep(workdir, "run", STUDY, *overrides)
    assert second.returncode == 0, second.stderr
    assert "0 trials to run" in second.stdout
    assert len([run for run in _runs(workdir) if run.data.tags["sweeps.kind"] == "trial"]) == 34
    assert time.monotonic() - started < 60  # the acceptance bar is 15 s on an idle machine
    assert {t["status"] for t in _plan(workdir, STUDY, *overrides)["trials"]} == {"finished"}


def _wait_for_first_epoch(db: Path, process: subprocess.Popen[str], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "sweep run ended before it could be interrupted"
        if db.exists():
            try:
                with sqlite3.connect(db) as connection:
                    if connection.execute("SELECT COUNT(*) FROM metrics WHERE key = 'val_acc'").fetchone()[0]:
                        return
            except sqlite3.OperationalError:  # tables not created yet
                pass
        time.sleep(0.05)
    raise AssertionError("no epoch was recorded in time")


@pytest.mark.parametrize("interruption", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "killed"])
def test_interrupted_run_resumes_without_duplicates(workdir: Path, interruption: signal.Signals) -> None:
    # Three trials of 4 epochs on 3000 synthetic images (~0.5 s an epoch): long enough to interrupt.
    overrides = (
        "offline=true",
        "data=synthetic",
        "data.size=3000",
        "data.test_size=500",
        "trainer.epochs=4",
        f"tracking.uri={_uri(workdir)}",
        "--questions",
        "q03",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "sweeps", "run", STUDY, *overrides],
        cwd=workdir,
        env=_env(workdir),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    _wait_for_first_epoch(workdir / "mlflow.db", process)
    os.killpg(process.pid, interruption)
    output = process.communicate(timeout=120)[0]
    if interruption == signal.SIGINT:
        assert process.returncode == 130, output
        assert "interrupted: run the same command again to resume" in output
        assert all(run.info.status == "KILLED" for run in _runs(workdir) if run.info.status != "FINISHED")
    interrupted = {run.data.tags["sweeps.trial_id"] for run in _runs(workdir) if run.info.status != "FINISHED"}
    assert interrupted, "the interruption came too late: every trial had already finished"

    again = _sweep(workdir, *("run", STUDY, *overrides))
    assert again.returncode == 0, again.stdout + again.stderr

    runs = _runs(workdir)
    assert len(runs) == 3  # one run per trial id: continued, not re-created
    assert len({run.data.tags["sweeps.trial_id"] for run in runs}) == 3
    client = MlflowClient(_uri(workdir))
    resumed = []
    for run in runs:
        assert run.info.status == "FINISHED"
        for key in ("val_acc", "train_loss"):
            steps = [m.step for m in client.get_metric_history(run.info.run_id, key)]
            assert sorted(steps) == [1, 2, 3, 4], (key, steps)  # every epoch exactly once
        if "sweeps.resumed_from_epoch" in run.data.tags:
            resumed.append(int(run.data.tags["sweeps.resumed_from_epoch"]))
    assert resumed and all(1 <= epoch <= 4 for epoch in resumed)  # resumed from a checkpoint, not epoch 0


PHASES = {"phase_data_load_seconds", "phase_build_seconds", "phase_train_seconds", "phase_test_seconds"}


@pytest.mark.parametrize("study", ["syde522", "sds_convnet", "convnetjs", "cloudmesh_mlp"])
def test_course_study_runs_end_to_end_offline(workdir: Path, study: str) -> None:
    overrides = ("offline=true", "trainer.epochs=1", f"tracking.uri={_uri(workdir)}")
    plan = _plan(workdir, study, *overrides)
    result = _sweep(workdir, "run", study, *overrides, timeout=1200)  # syde522: 188 trials on 10,000–16,000 images
    assert result.returncode == 0, result.stdout + result.stderr

    client = MlflowClient(_uri(workdir))
    runs = client.search_runs([client.get_experiment_by_name(study).experiment_id], max_results=1000)
    assert sorted(run.data.tags["sweeps.trial_id"] for run in runs) == sorted(t["id"] for t in plan["trials"])
    for run in runs:
        assert run.info.status == "FINISHED"
        metrics = run.data.metrics
        assert PHASES | {"test_acc", "forward_ms_per_example", "backward_ms_per_example", "examples_seen"} <= set(metrics)
        assert all(metrics[phase] >= 0.0 for phase in PHASES) and metrics["phase_train_seconds"] > 0.0
        assert {"sys.os", "sys.cpu", "sys.cpu_count", "sys.memory_gib", "sys.python", "sys.torch", "sys.gpu"} <= set(run.data.tags)
    artifacts = {a.path for a in client.list_artifacts(runs[0].info.run_id)}
    assert {"machine.json", "confusion_matrix.csv"} <= artifacts


def test_repeats_are_ten_runs_in_one_group_and_not_rerun(workdir: Path) -> None:
    overrides = ("offline=true", "trainer.epochs=1", f"tracking.uri={_uri(workdir)}", "--questions", "q01")
    first = _sweep(workdir, "run", "syde522", *overrides)
    assert first.returncode == 0, first.stdout + first.stderr

    client = MlflowClient(_uri(workdir))
    experiment = client.get_experiment_by_name("syde522").experiment_id
    runs = client.search_runs([experiment], max_results=1000)
    assert len(runs) == 10
    assert len({run.data.tags["sweeps.group"] for run in runs}) == 1
    assert sorted(int(run.data.params["seed"]) for run in runs) == list(range(1, 11))
    losses = {run.data.metrics["train_loss"] for run in runs}
    assert len(losses) > 1  # fresh weights each time: the seeds really differ

    second = _sweep(workdir, "run", "syde522", *overrides)
    assert second.returncode == 0 and "0 trials to run" in second.stdout
    assert len(client.search_runs([experiment], max_results=1000)) == 10


def _artifact_weights(client: MlflowClient, run_id: str, folder: Path) -> dict:
    import torch
    from mlflow.artifacts import download_artifacts

    path = download_artifacts(run_id=run_id, artifact_path="checkpoint/model.pt", dst_path=str(folder), tracking_uri=client.tracking_uri)
    return torch.load(path, weights_only=True)


def test_search_then_evaluation_and_fine_tuning_stages(workdir: Path, tmp_path: Path) -> None:
    import torch

    overrides = ("offline=true", "trainer.epochs=3", f"tracking.uri={_uri(workdir)}", "--questions", "q14,q15")
    first = _sweep(workdir, "run", STUDY, *overrides)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "is registered as model jhu_fashion-q13" in first.stdout

    client = MlflowClient(_uri(workdir))
    runs = _runs(workdir)
    search = [run for run in runs if run.data.tags["sweeps.questions"] == "q13" and run.data.tags["sweeps.kind"] == "trial"]
    (parent,) = [run for run in runs if run.data.tags.get("sweeps.kind") == "search"]
    assert parent.info.status == "FINISHED" and "sweeps.trial_id" not in parent.data.tags
    assert len(search) == 12 and all(run.data.tags["mlflow.parentRunId"] == parent.info.run_id for run in search)
    stopped = [run for run in search if run.data.tags.get("sweeps.outcome") == "early_stopped"]
    assert stopped, "ASHA stopped no trial"
    for run in stopped:  # recorded honestly: not FAILED, not FINISHED, with the epoch reached
        assert run.info.status == "KILLED" and int(run.data.tags["sweeps.stopped_at_epoch"]) < 3
    finished = [run for run in search if run.info.status == "FINISHED"]
    best = max(finished, key=lambda run: run.data.metrics["val_acc"])
    (version,) = client.search_model_versions("name = 'jhu_fashion-q13'")
    assert version.run_id == best.info.run_id

    (q14,) = [run for run in runs if run.data.tags["sweeps.questions"] == "q14"]
    (q15,) = [run for run in runs if run.data.tags["sweeps.questions"] == "q15"]
    for stage in (q14, q15):
        assert stage.info.status == "FINISHED"
        assert stage.data.params["init_from"] == best.data.tags["sweeps.trial_id"]
        assert stage.data.params["data.source"] == "mnist_5k"  # MNIST's stand-in, MNIST-shaped
    # Q14: evaluation only — no epoch trained, and its final weights are the best checkpoint's exactly.
    assert q14.data.params["trainer.epochs"] == "0" and "epoch_seconds" not in q14.data.metrics
    best_weights = _artifact_weights(client, best.info.run_id, tmp_path / "best")
    q14_weights = _artifact_weights(client, q14.info.run_id, tmp_path / "q14")
    assert best_weights.keys() == q14_weights.keys()
    assert all(torch.equal(best_weights[name], q14_weights[name]) for name in best_weights)
    # Q15: fine-tuned from those weights at the best learning rate ÷ 100; it trained, so they moved.
    assert float(q15.data.params["optim.lr"]) == pytest.approx(float(best.data.params["optim.lr"]) / 100, rel=1e-9)
    q15_weights = _artifact_weights(client, q15.info.run_id, tmp_path / "q15")
    assert not all(torch.equal(best_weights[name], q15_weights[name]) for name in best_weights)

    again = _sweep(workdir, "run", STUDY, *overrides)
    assert again.returncode == 0 and "0 trials to run" in again.stdout, again.stdout + again.stderr
    assert len(_runs(workdir)) == len(runs)
