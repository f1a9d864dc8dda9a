"""What a study's trials leave for readers other than the report: MLflow's run times and Ray Tune's results.

One `sweep run` of three trials that Ray runs one after another (one CPU, packs of one): each trial's
MLflow run starts when its worker starts it, not when the study starts, so the UI's Duration is the
trial's own; and Tune's results point at each trial's checkpoint folder (docs/results-tune.md).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from helpers.sweep_cli import SweepCli
from mlflow.tracking import MlflowClient

pytestmark = pytest.mark.slow

STUDY = "jhu_fashion"
SEQUENTIAL = ("offline=true", "trainer.epochs=1", "resources.num_cpus=1", "resources.cpus_per_trial=1", "resources.pack_size=1")


@pytest.fixture(scope="module")
def ran(module_sweep: SweepCli) -> SweepCli:
    done = module_sweep("run", STUDY, *SEQUENTIAL, f"tracking.uri={module_sweep.uri}", "--questions", "q03")
    assert done.returncode == 0, done.stdout + done.stderr
    return module_sweep


def test_each_run_lasts_while_its_trial_trains(ran: SweepCli) -> None:
    client = MlflowClient(ran.uri)
    runs = sorted((run for run in ran.runs(STUDY) if run.data.tags["sweeps.kind"] == "trial"), key=lambda run: run.info.start_time)
    assert len(runs) == 3
    for run in runs:
        logged = [metric.timestamp for metric in client.get_metric_history(run.info.run_id, "val_acc")]
        assert run.info.start_time <= min(logged) and max(logged) <= run.info.end_time
    for earlier, later in itertools.pairwise(runs):  # one CPU: the later trial waited for the earlier one, outside its run
        assert later.info.start_time >= earlier.info.end_time - 1000, "a run's start counts its wait in Tune's queue"


def test_tunes_results_point_at_each_trials_checkpoint(ran: SweepCli) -> None:
    from ray.tune import ExperimentAnalysis, ResultGrid

    (experiment,) = (ran.workdir / "sweeps_storage" / STUDY / "ray").iterdir()
    results = ResultGrid(ExperimentAnalysis(str(experiment)))
    assert len(results) == 3
    for result in results:
        (member,) = result.config["pack"]["members"]
        folder = Path(result.metrics["checkpoint_dir"])
        assert folder == Path(member["checkpoint_dir"]) and folder.name == result.metrics["member"] == member["id"]
        assert (folder / "state.pt").is_file()
        assert result.checkpoint is None  # Tune keeps none of its own: docs/results-tune.md says why
