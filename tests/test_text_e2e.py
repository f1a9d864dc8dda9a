"""End to end: `sweep run toxic_comments offline=true` on a real local Ray and a real sqlite MLflow
store, the way tests/test_run_e2e.py runs the image studies (conftest's `sweep`: a subprocess per
command, HOME and RAY_TMPDIR isolated, leftover Ray processes of the test killed by their temp dir)."""

from __future__ import annotations

import json

import pytest
from helpers.sweep_cli import SweepCli
from mlflow.tracking import MlflowClient

from trainables.text.sample import SAMPLE_LABELS

pytestmark = pytest.mark.slow

STUDY = "toxic_comments"
EPOCHS = 3  # of the study's 4: the sample is learnt by then
BASELINE_LR = 0.01  # conf/study/toxic_comments.yaml; q04's ×0.1 variant learns too slowly to be held to the bar
PHASES = {f"phase_{name}_seconds" for name in ("data_load", "features", "build", "train")}


def test_toxic_comments_runs_offline_one_run_per_trial_with_val_auc(sweep: SweepCli) -> None:
    overrides = ("offline=true", f"trainer.epochs={EPOCHS}", f"tracking.uri={sweep.uri}")
    plan = sweep.plan(STUDY, *overrides)
    trials = {trial["id"]: trial for trial in plan["trials"]}
    assert len(trials) == 14 and {trial["data_source"] for trial in trials.values()} == {"toxic_sample"}

    result = sweep("run", STUDY, *overrides)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(trials)}/{len(trials)} trials finished, 0 failed" in result.stdout

    client = MlflowClient(sweep.uri)
    runs = client.search_runs([client.get_experiment_by_name(STUDY).experiment_id], max_results=1000)
    assert sorted(run.data.tags["sweeps.trial_id"] for run in runs) == sorted(trials)  # one run per unique trial
    for run in runs:
        assert run.info.status == "FINISHED"
        trial = trials[run.data.tags["sweeps.trial_id"]]
        assert run.data.tags["sweeps.questions"] == ",".join(trial["questions"])
        assert run.data.tags["sweeps.parameters"] == str(trial["parameters"])
        assert {"sys.cpu", "sys.cpu_count", "sys.memory_gib", "sys.torch"} <= set(run.data.tags)
        history = sorted(client.get_metric_history(run.info.run_id, "val_auc"), key=lambda metric: metric.step)
        assert [metric.step for metric in history] == list(range(1, EPOCHS + 1))  # val_auc every epoch
        metrics = run.data.metrics
        assert {f"val_auc_{name}" for name in SAMPLE_LABELS} | {"train_loss", "val_loss", "val_acc"} | PHASES <= set(metrics)
        if json.loads(run.data.params["optim.lr"]) >= BASELINE_LR:
            assert history[-1].value >= 0.9, (run.info.run_name, history[-1].value)  # learnable sample
        artifacts = {artifact.path for artifact in client.list_artifacts(run.info.run_id)}
        assert {"config.yaml", "checkpoint", "machine.json"} <= artifacts
