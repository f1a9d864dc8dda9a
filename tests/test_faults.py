"""Faults at run time: nothing lost, nothing duplicated, nothing hangs.

Each case injects its fault into a real `sweep run` (a subprocess against a real local Ray and a real
sqlite MLflow store, or a `sweep server` in front of one; HOME and RAY_TMPDIR isolated by the `sweep`
fixture) and then counts, through the MLflow client: runs per trial id, logged steps per metric,
statuses and outcome tags. A lost node is a node of
tests/loopback_cluster.py's loopback cluster (three nodes here) killed mid-trial, with a real `sweep server`.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.loopback import free_port, wait_until_up
from helpers.loopback_cluster import TOKEN_AUTH, LoopbackCluster
from helpers.run_counts import each_trial_once, steps
from helpers.sweep_cli import SweepCli, wait_for_first_epoch
from mlflow.tracking import MlflowClient

from sweeps.record.tracking import StudyRuns

pytestmark = pytest.mark.slow

STUDY = "jhu_fashion"

SYNTHETIC = ("offline=true", "data=synthetic", "data.size=3000", "data.test_size=500")  # ~0.5 s an epoch, idle


@pytest.fixture(params=["sqlite", "server"])
def tracking(request: pytest.FixtureRequest, sweep: SweepCli) -> Iterator[str]:
    """The working folder's sqlite store, or a `sweep server` on 127.0.0.1 in front of one."""
    if request.param == "sqlite":
        yield sweep.uri
        return
    port = free_port()
    server = sweep.popen("server", "--port", str(port), "--backend-store-uri", f"sqlite:///{sweep.workdir / 'server.db'}",
                         "--artifacts-destination", str(sweep.workdir / "artifacts"), stdout=subprocess.DEVNULL)  # fmt: skip
    try:
        wait_until_up(f"http://127.0.0.1:{port}/health", server)
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)


def _logged_epochs(db: Path) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(db) as connection:
        return int(connection.execute("SELECT COUNT(*) FROM metrics WHERE key = 'val_acc'").fetchone()[0])


def _trial_workers(sweep: SweepCli) -> list[int]:
    """The Ray worker processes running a trial of this test's Ray (Tune's `ImplicitFunc` actors)."""
    found = []
    for pid in sweep.processes():
        try:
            if b"ImplicitFunc" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(pid)
        except OSError:  # gone meanwhile
            continue
    return found


def _kill_a_worker_after_an_epoch(sweep: SweepCli, process: subprocess.Popen[str], timeout: float = 300) -> None:
    """Once `process` has logged one more epoch than now, SIGKILL one trial's worker (not the driver)."""
    db = sweep.workdir / "mlflow.db"
    before = _logged_epochs(db)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "sweep run ended before a worker could be killed"
        workers = _trial_workers(sweep)
        if workers and _logged_epochs(db) > before:
            os.kill(workers[0], signal.SIGKILL)
            return
        time.sleep(0.1)
    raise AssertionError("no epoch was logged in time")


def test_two_sweeps_of_one_study_at_once_train_each_trial_once(sweep: SweepCli, tracking: str) -> None:
    """Two terminals, one fresh folder: one store and experiment are created, each trial is trained by one."""
    overrides = ("offline=true", "trainer.epochs=2", f"tracking.uri={tracking}", "--questions", "q03")
    sweeps = [sweep.popen("run", STUDY, *overrides) for _ in range(2)]
    outputs = [sweep.communicate(timeout=900)[0] for sweep in sweeps]
    assert [sweep.returncode for sweep in sweeps] == [0, 0], outputs
    skipped = [[line for line in output.splitlines() if "running in another sweep" in line] for output in outputs]
    assert sum(map(len, skipped)) == 3, outputs  # each of q03's trials: trained by one sweep, skipped by the other
    for lines, other in zip(skipped, reversed(sweeps), strict=True):
        assert all(line.endswith(f"pid {other.pid}), skipped") for line in lines), lines
    each_trial_once(tracking, STUDY, 3, 2)
    leases = sweep.workdir / "sweeps_storage" / STUDY / "leases"
    assert sorted(path.name for path in leases.iterdir()) == [".lock", "drivers"] and not list((leases / "drivers").iterdir())


def test_an_unreadable_checkpoint_is_reported_and_its_trial_resumes_in_its_run(sweep: SweepCli) -> None:
    overrides = (*SYNTHETIC, "trainer.epochs=4", f"tracking.uri={sweep.uri}", "--questions", "q03")
    first = sweep.popen("run", STUDY, *overrides)
    wait_for_first_epoch(sweep.workdir / "mlflow.db", first)
    os.killpg(first.pid, signal.SIGKILL)
    first.communicate(timeout=120)
    sweep.kill()  # its Ray too: no worker of it may write a checkpoint after the damage
    unfinished = {run.data.tags["sweeps.trial_id"] for run in sweep.runs(STUDY) if run.info.status != "FINISHED"}
    checkpoints = sweep.workdir / "sweeps_storage" / STUDY / "checkpoints"
    damaged = sorted(folder for folder in checkpoints.iterdir() if folder.name in unfinished and (folder / "state.pt").exists())
    assert damaged, "no unfinished trial had a checkpoint"
    for number, folder in enumerate(damaged):
        state = folder / "state.pt"
        state.write_bytes(state.read_bytes()[: state.stat().st_size // 2])  # a truncated write
        if number % 2:  # and no previous state either: this one starts again from epoch 1
            (folder / "state.prev.pt").unlink(missing_ok=True)

    again = sweep("run", STUDY, *overrides)
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.count("is unreadable") == len(damaged) and "Traceback" not in again.stdout + again.stderr
    each_trial_once(sweep.uri, STUDY, 3, 4)  # resumed (or restarted) in the same runs, no epoch logged twice


def test_a_diverging_trial_is_recorded_as_diverged_and_never_rerun(sweep: SweepCli, tmp_path: Path) -> None:
    # q03 at a baseline lr of 1.0: lr 0.1 and 1.0 train, lr 10 overflows to NaN within 3 epochs.
    overrides = ("offline=true", "trainer.epochs=3", "optim.lr=1.0", f"tracking.uri={sweep.uri}", "--questions", "q03")
    result = sweep("run", STUDY, *overrides)
    assert result.returncode == 0, result.stdout + result.stderr

    runs = sweep.runs(STUDY)
    assert len(runs) == len({run.data.tags["sweeps.trial_id"] for run in runs}) == 3
    (diverged,) = [run for run in runs if run.data.params["optim.lr"] == "10.0"]
    epoch = int(diverged.data.tags["sweeps.diverged_at_epoch"])
    assert diverged.info.status == "FAILED" and diverged.data.tags["sweeps.outcome"] == "diverged" and 1 <= epoch <= 3
    assert steps(sweep.uri, diverged.info.run_id, "train_loss") == list(range(1, epoch + 1))
    assert f"diverged at epoch {epoch}" in result.stdout
    for run in runs:
        if run is not diverged:  # the others went on to the end
            assert run.info.status == "FINISHED" and steps(sweep.uri, run.info.run_id, "val_acc") == [1, 2, 3]
    # Never a finished trial: not even as the worst val accuracy of q03.
    worst = StudyRuns(sweep.uri, STUDY).best_trial("q03", "val_acc", "min")
    assert worst is not None and worst.info.run_id != diverged.info.run_id

    trial_id = diverged.data.tags["sweeps.trial_id"]
    (planned,) = [trial for trial in sweep.plan(STUDY, *overrides)["trials"] if trial["id"] == trial_id]
    assert planned["status"] == "diverged" and planned["diverged_at_epoch"] == epoch
    text = sweep("plan", STUDY, *overrides)
    assert f"{trial_id}  diverged at epoch {epoch}" in text.stdout and ", 1 diverged" in text.stdout
    again = sweep("run", STUDY, *overrides)
    assert again.returncode == 0 and "0 trials to run" in again.stdout, again.stdout + again.stderr
    assert len(sweep.runs(STUDY)) == 3
    report = sweep("report", STUDY, *overrides, "--out", str(tmp_path / "report"))
    assert report.returncode == 0, report.stdout + report.stderr
    assert f"diverged at epoch {epoch}" in (tmp_path / "report" / "report.md").read_text()


def test_a_killed_worker_is_retried_from_its_checkpoint_and_its_error_file_tag_removed(sweep: SweepCli) -> None:
    overrides = (*SYNTHETIC, "trainer.epochs=4", f"tracking.uri={sweep.uri}", "--questions", "q03")
    # No retries: the trial whose worker is killed fails, in one line, with its error file.
    first = sweep.popen("run", STUDY, *overrides, "resources.max_failures=0")
    _kill_a_worker_after_an_epoch(sweep, first)
    output = first.communicate(timeout=600)[0]
    assert first.returncode == 1 and "Traceback" not in output and "ActorDiedError" not in output, output
    (failed,) = [run for run in sweep.runs(STUDY) if run.info.status == "FAILED"]
    assert failed.data.tags["sweeps.outcome"] == "failed" and failed.data.tags["sweeps.error_file"]
    assert output.count(f"failed; see {failed.data.tags['sweeps.error_file']}") == 1

    # Retries (2 by default): the failed trial resumes; its worker is killed once more and it resumes again.
    second = sweep.popen("run", STUDY, *overrides)
    _kill_a_worker_after_an_epoch(sweep, second)
    output = second.communicate(timeout=600)[0]
    assert second.returncode == 0 and "Traceback" not in output and "ActorDiedError" not in output, output
    assert output.count("its worker failed (failure 1 of at most 2") == 1
    runs = each_trial_once(sweep.uri, STUDY, 3, 4)  # the same runs, each epoch once
    retried = runs[failed.data.tags["sweeps.trial_id"]]
    assert retried.info.run_id == failed.info.run_id
    assert retried.data.tags["sweeps.retries"] == "1" and "sweeps.error_file" not in retried.data.tags
    assert int(retried.data.tags["sweeps.resumed_from_epoch"]) >= 1


@pytest.mark.parametrize("cluster", [("node_a", "node_b", "node_c")], indirect=True)
def test_a_lost_nodes_trial_resumes_on_another_node_in_its_run(cluster: LoopbackCluster) -> None:
    """A reclaimed spot node: node_b (its raylet and workers) killed while its trial trains."""
    cluster.start()
    cluster.wait_for_mlflow()
    node_ids = {name: node_id for node_id, name in cluster.node_names(expected=3, timeout=300).items()}
    run = cluster.cli.popen(
        "run", STUDY, *SYNTHETIC, "trainer.epochs=5", "--questions", "q03",
        f"resources.address=127.0.0.1:{cluster.ray_port}", "resources.cpus_per_trial=1",
        f"tracking.uri={cluster.tracking_uri}", f"paths.storage={cluster.root / 'storage'}", env=TOKEN_AUTH,
    )  # fmt: skip
    client = MlflowClient(cluster.tracking_uri)
    victim = None
    deadline = time.monotonic() + 600
    while victim is None and time.monotonic() < deadline:  # node_b's trial, once it has logged an epoch
        assert run.poll() is None, run.communicate()[0]
        experiment = client.get_experiment_by_name(STUDY)
        running = client.search_runs([experiment.experiment_id], "attributes.status = 'RUNNING'") if experiment else []
        on_b = [each for each in running if each.data.tags.get("sweeps.node_id") == node_ids["node_b"]]
        victim = next((each for each in on_b if "val_acc" in each.data.metrics), None)
        time.sleep(0.5)
    assert victim is not None, "no trial ran on node_b in time"
    cluster.lose_node("node_b")

    output = run.communicate(timeout=900)[0]
    assert run.returncode == 0 and "Traceback" not in output, output
    assert output.count("its worker failed (failure 1 of at most 2") == 1, output
    runs = client.search_runs([client.get_experiment_by_name(STUDY).experiment_id])
    assert len(runs) == len({run.data.tags["sweeps.trial_id"] for run in runs}) == 3
    for each in runs:
        assert each.info.status == "FINISHED"
        for key in ("val_acc", "train_loss"):
            assert sorted(m.step for m in client.get_metric_history(each.info.run_id, key)) == [1, 2, 3, 4, 5], key
    (resumed,) = [each for each in runs if each.info.run_id == victim.info.run_id]
    assert resumed.data.tags["sweeps.node_id"] in (node_ids["node_a"], node_ids["node_c"])  # finished elsewhere
    assert resumed.data.tags["sweeps.retries"] == "1" and int(resumed.data.tags["sweeps.resumed_from_epoch"]) >= 1
    assert cluster.stop() == [], "processes the test started outlived SIGTERM"
