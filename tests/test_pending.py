"""Trials no node can place. A local Ray is refused at plan time (tests/test_bad_input.py);
on a cluster `sweep run` warns, naming the largest node, and stops cleanly after `resources.pending_timeout`.

The watch and the warning with a fake clock and fake nodes; then for real: a one-CPU Ray head on 127.0.0.1
(`ray start`) that `sweep run` joins with trials of two CPUs each.
"""

from __future__ import annotations

import io
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
from types import SimpleNamespace

import pytest
from helpers.loopback import free_port, wait_for_line
from helpers.loopback_cluster import RAY_CLI
from helpers.sweep_cli import kill_marked

import sweeps.run.pending as pending
from sweeps.config.schema import ResourcesConfig
from sweeps.run.pending import Node, PendingTimeout, PendingWatch, warn_if_no_node_fits

NODES = [Node("10.0.0.1", 4.0, 0.0), Node("10.0.0.2", 8.0, 1.0)]


@pytest.fixture
def cluster(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Fake nodes, and a clock the test moves (returned: [now])."""
    monkeypatch.setattr(pending, "live_nodes", lambda: NODES)
    return [0.0]


def trials(*statuses: str) -> list[SimpleNamespace]:
    return [SimpleNamespace(status=status) for status in statuses]


def test_every_trial_waiting_past_the_timeout_stops_the_study(cluster: list[float]) -> None:
    watch = PendingWatch(ResourcesConfig(address="auto", cpus_per_trial=16, pending_timeout=60), clock=lambda: cluster[0])
    for now in (0.0, 30.0, 60.0):
        cluster[0] = now
        watch.on_step_end(0, trials("PENDING", "PENDING"))
    cluster[0] = 61.0
    with pytest.raises(PendingTimeout) as stopped:
        watch.on_step_end(0, trials("PENDING", "PENDING"))
    message = str(stopped.value)
    assert "\n" not in message
    assert "resources.pending_timeout=60" in message and "16 CPUs" in message
    assert "10.0.0.2, has 8 CPUs and 1 GPUs" in message and "run the same command" in message


def test_a_running_trial_or_none_waiting_restarts_the_clock(cluster: list[float]) -> None:
    watch = PendingWatch(ResourcesConfig(address="auto", pending_timeout=60), clock=lambda: cluster[0])
    watch.on_step_end(0, trials("PENDING"))
    cluster[0] = 50.0
    watch.on_step_end(0, trials("RUNNING", "PENDING"))  # the cluster is working: not stuck
    cluster[0] = 100.0
    watch.on_step_end(0, trials("PENDING"))
    cluster[0] = 150.0
    watch.on_step_end(0, trials("TERMINATED", "PENDING"))  # 50 s of waiting since then: no PendingTimeout yet


def test_on_a_cluster_a_trial_larger_than_every_node_is_one_warning(cluster: list[float]) -> None:
    err = io.StringIO()
    plan = SimpleNamespace(runtime=SimpleNamespace(resources=ResourcesConfig(address="auto", cpus_per_trial=2, gpus_per_trial=2)))
    warn_if_no_node_fits(plan, err)  # type: ignore[arg-type]
    (line,) = err.getvalue().splitlines()
    assert line.startswith("sweep: warning: resources: no node of the cluster at auto has 2 CPUs and 2 GPUs per trial")
    assert "its largest node, 10.0.0.2, has 8 CPUs and 1 GPUs" in line and "resources.pending_timeout=900 s" in line

    fitting = SimpleNamespace(runtime=SimpleNamespace(resources=ResourcesConfig(address="auto", cpus_per_trial=8, gpus_per_trial=1)))
    quiet = io.StringIO()
    warn_if_no_node_fits(fitting, quiet)  # type: ignore[arg-type]
    assert quiet.getvalue() == ""


# --- a real one-node cluster --------------------------------------------------------------------------

@pytest.fixture
def one_cpu_head(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """A Ray head on 127.0.0.1 with one CPU; its address and the environment that reaches it. Stopped after."""
    ray_tmp = Path(tempfile.mkdtemp(prefix="swp", dir="/tmp"))  # short: Ray's socket paths are length-limited
    (tmp_path / "home").mkdir()
    env = {**os.environ, "HOME": str(tmp_path / "home"), "RAY_TMPDIR": str(ray_tmp), "PYTHONUNBUFFERED": "1"}
    port = free_port()
    head = subprocess.Popen(
        [sys.executable, "-c", RAY_CLI, "start", "--block", "--head", "--port", str(port), "--num-cpus", "1",
         "--node-ip-address", "127.0.0.1", "--include-dashboard", "false", "--disable-usage-stats",
         "--dashboard-agent-listen-port", str(free_port())],
        env=env, stdout=(tmp_path / "head.log").open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        # Its GCS and raylet up: `ray start` takes seconds on a busy machine (CI once joined before it listened).
        wait_for_line(tmp_path / "head.log", "Ray runtime started.", head)
        yield f"127.0.0.1:{port}", env
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
        kill_marked(ray_tmp)
        shutil.rmtree(ray_tmp, ignore_errors=True)


@pytest.mark.slow
def test_trials_no_node_can_place_warn_then_stop_cleanly(tmp_path: Path, one_cpu_head: tuple[str, dict[str, str]]) -> None:
    address, env = one_cpu_head
    store = tmp_path / "mlflow.db"
    overrides = [
        "offline=true", "trainer.epochs=1", f"tracking.uri=sqlite:///{store}", f"resources.address={address}",
        "resources.cpus_per_trial=2", "resources.pending_timeout=5", "--questions", "q01",
    ]  # fmt: skip
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "sweeps", "run", "jhu_fashion", *overrides],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    seconds = time.monotonic() - started
    assert result.returncode == 3, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    warning, stopped = [line for line in result.stderr.splitlines() if line.startswith("sweep: ")]
    assert warning.startswith("sweep: warning: resources: no node of the cluster") and "127.0.0.1, has 1 CPUs" in warning
    assert stopped.startswith("sweep: stopped: resources: no trial could start in resources.pending_timeout=5 s")
    with sqlite3.connect(store) as connection:
        statuses = [row[0] for row in connection.execute("SELECT status FROM runs")]
    # No trial started, so none has a run: a local store opens a trial's run when the trial starts training
    # (its Duration is its training), and the same command plans both of Q1's trials again as new.
    assert statuses == []
    print(json.dumps({"stopped_after_s": round(seconds, 1)}))
