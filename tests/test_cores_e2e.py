"""End to end: the idle cores of a grid's tail go to its last trial (sweeps/run/cores.py). Two trials start
on a 2-CPU Ray, one of 2 epochs and one of 12; the course's training function reports the torch threads
of each epoch. While two trials are left each trains on one core; with `resources.share_idle_cores` on,
the long trial trains its last epochs on both cores (all of them, if Ray started it only once the short
one had ended); off, on one throughout."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.sweep_cli import SweepCli
from mlflow.tracking import MlflowClient

pytestmark = pytest.mark.slow

COURSE = Path(__file__).parent / "courses" / "cores"


@pytest.mark.parametrize(("share", "last_threads"), [("true", 2), ("false", 1)])
def test_the_last_trial_takes_the_cores_the_others_leave(sweep: SweepCli, share: str, last_threads: int) -> None:
    overrides = ("offline=true", "resources.num_cpus=2", "resources.pack_size=1", f"resources.share_idle_cores={share}")
    run = sweep("run", "--conf", str(COURSE), "cores", *overrides, f"tracking.uri={sweep.uri}")
    assert run.returncode == 0, run.stdout + run.stderr

    client = MlflowClient(sweep.uri)
    threads = {}
    for trial in sweep.runs("cores"):
        history = sorted(client.get_metric_history(trial.info.run_id, "threads"), key=lambda metric: metric.step)
        threads[int(trial.data.params["trainer.epochs"])] = [int(metric.value) for metric in history]
    assert threads[2] == [1, 1]  # two trials left for two cores: one thread each
    assert threads[12] == sorted(threads[12]) and threads[12][-1] == last_threads  # raised, never lowered
