"""The `sweep` command as a user runs it (`python -m sweeps …` in a subprocess), isolated per test.

A `SweepCli` owns a working folder, a HOME beside it and a private RAY_TMPDIR. That RAY_TMPDIR is short
(Ray's socket paths are length-limited, so it sits directly under /tmp) and it is the mark of every process
the test started: Ray's processes inherit it, so the clean-up finds them by it in /proc and stops those,
never anyone else's Ray (no `ray stop`). tests/conftest.py hands them out as the `sweep` fixtures.
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
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any


def assert_bad_input(result: subprocess.CompletedProcess[str]) -> str:
    """Exit 2, nothing on stdout, exactly one stderr line `sweep: error: …`, no traceback."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("sweep: error: ")
    assert result.stdout == ""
    return lines[0]


@dataclass(frozen=True)
class SweepCli:
    workdir: Path  # the command's working folder, empty at first
    home: Path  # its HOME
    ray_tmp: Path  # its private RAY_TMPDIR

    @property
    def env(self) -> dict[str, str]:
        """This environment, with HOME and RAY_TMPDIR of the test's own and none of the user's MLflow settings."""
        inherited = {key: value for key, value in os.environ.items() if not key.startswith("MLFLOW_")}
        return {**inherited, "HOME": str(self.home), "RAY_TMPDIR": str(self.ray_tmp), "PYTHONUNBUFFERED": "1"}

    @property
    def uri(self) -> str:
        """An MLflow store in the working folder: `tracking.uri=` + this."""
        return f"sqlite:///{self.workdir / 'mlflow.db'}"

    def __call__(self, *args: str, timeout: float = 600, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """`sweep ARGS` to its end; `env` adds variables to the isolated environment."""
        return subprocess.run(
            [sys.executable, "-m", "sweeps", *args],
            cwd=self.workdir,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def popen(
        self, *args: str, stdout: int | IO[Any] = subprocess.PIPE, env: Mapping[str, str] | None = None
    ) -> subprocess.Popen[str]:
        """`sweep ARGS` started in a session of its own (a signal to its group reaches all it started),
        stderr into stdout."""
        return subprocess.Popen(
            [sys.executable, "-m", "sweeps", *args],
            cwd=self.workdir,
            env={**self.env, **(env or {})},
            stdout=stdout,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )

    def plan(self, *args: str, env: Mapping[str, str] | None = None) -> dict[str, Any]:
        """`sweep plan ARGS --json`, which must succeed, as the JSON object it prints."""
        result = self("plan", *args, "--json", env=env)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def processes(self) -> list[int]:
        """Every live process started with this RAY_TMPDIR."""
        return marked_processes(self.ray_tmp)

    def kill(self) -> None:
        """SIGKILL to every process `processes` finds."""
        kill_marked(self.ray_tmp)

    def runs(self, study: str) -> list[Any]:
        """Every MLflow run of `study` in the working folder's store (mlflow.entities.Run)."""
        from mlflow.tracking import MlflowClient

        client = MlflowClient(self.uri)
        return client.search_runs([client.get_experiment_by_name(study).experiment_id], max_results=1000)

    def started_ray(self) -> bool:
        """Whether a Ray node ever ran with this RAY_TMPDIR (Ray keeps its sessions in RAY_TMPDIR/ray)."""
        return any((self.ray_tmp / "ray").glob("session_*"))


def marked_processes(ray_tmp: Path) -> list[int]:
    """Every live process started with RAY_TMPDIR=`ray_tmp` (in its environment or on its command line)."""
    mark = f"RAY_TMPDIR={ray_tmp}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            environ = (proc / "environ").read_bytes().split(b"\0")
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:  # gone, a zombie, or another user's
            continue
        if mark in environ or f"{ray_tmp}/".encode() in cmdline:
            found.append(int(proc.name))
    return found


def kill_marked(ray_tmp: Path) -> None:
    """SIGKILL to every process `marked_processes` finds: the test's own, never anyone else's Ray."""
    for pid in marked_processes(ray_tmp):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def wait_for_first_epoch(db: Path, process: subprocess.Popen[str], timeout: float = 180) -> None:
    """Until the sqlite store `db` holds a val_acc (a trial's first epoch is recorded); fails if `process`
    (the `sweep run`) ends first."""
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


@contextmanager
def isolated(folder: Path) -> Iterator[SweepCli]:
    """A `SweepCli` working in folder/work with HOME folder/home; at the end the processes started with its
    RAY_TMPDIR are killed and that folder removed."""
    (folder / "work").mkdir()
    (folder / "home").mkdir()
    cli = SweepCli(folder / "work", folder / "home", Path(tempfile.mkdtemp(prefix="swt", dir="/tmp")))
    try:
        yield cli
    finally:
        cli.kill()
        shutil.rmtree(cli.ray_tmp, ignore_errors=True)
