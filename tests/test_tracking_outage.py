"""The tracking server goes away while `sweep run` runs, for real: a `sweep server` on
127.0.0.1 that the test kills mid-run and starts again on the same port and store.

- Back in time: the trials keep training, the driver holds what it could not log and sends it when the server
  answers; every epoch is in MLflow exactly once, in order, and every run ends FINISHED.
- Away past `tracking.hold_epochs`: the study stops cleanly (one line, exit 3, nothing of MLflow's lost), and
  the same command, once the server is back, resumes each trial in its own run.

Each test has its own working folder, HOME and short RAY_TMPDIR; at the end every process started with that
RAY_TMPDIR (Ray's, the server's, the driver's) is killed, and nothing else.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from helpers.loopback import free_port, wait_until_up
from helpers.sweep_cli import kill_marked
from mlflow.tracking import MlflowClient

pytestmark = pytest.mark.slow

STUDY = "jhu_fashion"
EPOCHS = 6
# Q3's three learning rates on 3,000 synthetic images: a few seconds an epoch, long enough to outlast a restart.
OVERRIDES = ("offline=true", "data=synthetic", "data.size=3000", "data.test_size=500", f"trainer.epochs={EPOCHS}", "--questions", "q03")


@dataclass
class Outage:
    """A working folder with its own HOME and RAY_TMPDIR, a `sweep server` to kill and restart, and the driver."""

    root: Path
    ray_tmp: Path
    port: int = field(default_factory=free_port)
    server: subprocess.Popen[bytes] | None = None
    lines: list[tuple[float, str]] = field(default_factory=list)  # the driver's output, with time.monotonic()

    @property
    def env(self) -> dict[str, str]:
        inherited = {key: value for key, value in os.environ.items() if not key.startswith("MLFLOW_")}
        return {**inherited, "HOME": str(self.root / "home"), "RAY_TMPDIR": str(self.ray_tmp), "PYTHONUNBUFFERED": "1"}

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def store(self) -> Path:
        return self.root / "server" / "mlflow.db"

    def start_server(self) -> None:
        """`sweep server` on the same port and store each time, in a session of its own."""
        log = (self.root / "server.log").open("ab")
        self.server = subprocess.Popen(
            [sys.executable, "-m", "sweeps", "server", "--port", str(self.port), "--backend-store-uri",
             f"sqlite:///{self.store}", "--artifacts-destination", str(self.root / "server" / "artifacts")],
            cwd=self.root, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        wait_until_up(f"{self.uri}/health", self.server)

    def kill_server(self) -> None:
        assert self.server is not None
        os.killpg(self.server.pid, signal.SIGKILL)
        self.server.wait(timeout=60)

    def driver(self, *overrides: str) -> subprocess.Popen[str]:
        """`sweep run` against the server; its output lines are collected as they come."""
        process = subprocess.Popen(
            [sys.executable, "-m", "sweeps", "run", STUDY, *OVERRIDES, f"tracking.uri={self.uri}", *overrides],
            cwd=self.root, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        )  # fmt: skip
        self.lines.clear()
        threading.Thread(target=self._collect, args=(process,), daemon=True).start()
        return process

    def _collect(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self.lines.append((time.monotonic(), line.rstrip("\n")))

    def output(self) -> str:
        return "\n".join(line for _, line in self.lines)

    def logged_epochs(self) -> int:
        """val_acc values in the store, read from its file (the server may be down)."""
        try:
            with sqlite3.connect(self.store) as connection:
                return connection.execute("SELECT COUNT(*) FROM metrics WHERE key = 'val_acc'").fetchone()[0]
        except sqlite3.OperationalError:  # not created yet
            return 0

    def checkpointed_epochs(self) -> int:
        """Epochs in the trials' checkpoints: what the trials trained, logged or not."""
        from sweeps.record.checkpoints import load_state

        states = [load_state(str(folder)) for folder in (self.root / "sweeps_storage").glob(f"{STUDY}/checkpoints/*")]
        return sum(len(state["history"]) for state in states if state is not None)


@pytest.fixture
def outage(tmp_path: Path) -> Iterator[Outage]:
    (tmp_path / "home").mkdir()
    scenario = Outage(tmp_path, Path(tempfile.mkdtemp(prefix="swo", dir="/tmp")))  # short: Ray's socket paths
    try:
        yield scenario
    finally:
        kill_marked(scenario.ray_tmp)
        shutil.rmtree(scenario.ray_tmp, ignore_errors=True)


def wait_for(condition: Callable[[], bool], what: str, process: subprocess.Popen[str], timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        assert process.poll() is None, f"sweep run ended while waiting for {what}"
        time.sleep(0.2)
    raise AssertionError(f"no {what} in {timeout} s")


def assert_every_epoch_once_in_order(uri: str, trials: int) -> None:
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(STUDY)
    runs = client.search_runs([experiment.experiment_id], max_results=100)
    assert len(runs) == trials and len({run.data.tags["sweeps.trial_id"] for run in runs}) == trials  # no duplicate
    for run in runs:
        assert run.info.status == "FINISHED", run.info
        for key in ("val_acc", "train_loss", "epoch_seconds"):
            history = client.get_metric_history(run.info.run_id, key)
            assert [metric.step for metric in history] == list(range(1, EPOCHS + 1)), (key, history)
            by_step = sorted(history, key=lambda metric: metric.step)
            assert [m.timestamp for m in by_step] == sorted(m.timestamp for m in by_step)  # logged in the order trained
        assert "confusion_matrix.csv" in {artifact.path for artifact in client.list_artifacts(run.info.run_id)}


def test_the_server_away_and_back_loses_and_duplicates_nothing(outage: Outage) -> None:
    outage.start_server()
    driver = outage.driver()
    wait_for(lambda: outage.logged_epochs() >= 1, "first logged epoch", driver)
    logged_before = outage.logged_epochs()
    outage.kill_server()
    killed_at = time.monotonic()

    # The trials keep training: at least two more epochs checkpointed while nothing reaches MLflow.
    trained_at_kill = outage.checkpointed_epochs()
    wait_for(lambda: "does not answer" in outage.output(), "notice that the server is away", driver)
    wait_for(lambda: outage.checkpointed_epochs() >= trained_at_kill + 2, "epochs trained during the outage", driver)
    assert outage.logged_epochs() == logged_before
    outage.start_server()
    down = time.monotonic() - killed_at

    assert driver.wait(timeout=600) == 0, outage.output()
    output = outage.output()
    assert "answers again" in output and "Traceback" not in output, output
    held = sum(int(line.split("logged the ")[1].split(" epochs")[0]) for _, line in outage.lines if "logged the " in line)
    assert held >= 2, output
    assert_every_epoch_once_in_order(outage.uri, trials=3)
    print(f"server down {down:.0f} s; {held} epochs held and flushed")  # the figures docs/troubleshooting.md quotes (pytest -s)


def test_away_past_the_bound_stops_cleanly_and_the_same_command_resumes(outage: Outage) -> None:
    outage.start_server()
    driver = outage.driver("tracking.hold_epochs=2")
    wait_for(lambda: outage.logged_epochs() >= 1, "first logged epoch", driver)
    outage.kill_server()

    assert driver.wait(timeout=600) == 3, outage.output()
    output = outage.output()
    assert "Traceback" not in output, output
    (stopped,) = [line for _, line in outage.lines if line.startswith("sweep: stopped: ")]
    assert "tracking.hold_epochs=2" in stopped and "run the same command" in stopped
    print(stopped)  # the line docs/troubleshooting.md quotes (pytest -s)
    with sqlite3.connect(outage.store) as connection:  # nothing finished, nothing lost: runs left to continue
        statuses = [row[0] for row in connection.execute("SELECT status FROM runs")]
    assert statuses and "FINISHED" not in statuses
    assert outage.checkpointed_epochs() > outage.logged_epochs()  # the held epochs are in the checkpoints

    outage.start_server()
    again = outage.driver()
    assert again.wait(timeout=600) == 0, outage.output()
    assert_every_epoch_once_in_order(outage.uri, trials=3)
    runs = MlflowClient(outage.uri).search_runs([MlflowClient(outage.uri).get_experiment_by_name(STUDY).experiment_id])
    assert any(int(run.data.tags.get("sweeps.resumed_from_epoch", 0)) >= 1 for run in runs)  # from a checkpoint
