"""End to end: `sweep run` against a real local Ray and a real sqlite MLflow store in a temp dir.

Each test runs the CLI as a user would (a subprocess in its own session, so an interruption can be
delivered to it alone) with HOME and RAY_TMPDIR isolated, and reads the results back from MLflow.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from helpers.sweep_cli import SweepCli, wait_for_first_epoch
from mlflow.tracking import MlflowClient

from sweeps.record.store import question_filter

pytestmark = pytest.mark.slow

STUDY = "jhu_fashion"
METRICS = {"train_loss", "train_acc", "val_loss", "val_acc", "epoch_seconds", "examples_per_second"}


def test_whole_study_runs_once_and_a_second_invocation_runs_nothing(sweep: SweepCli) -> None:
    overrides = ("offline=true", "trainer.epochs=1", f"tracking.uri={sweep.uri}")
    plan = sweep.plan(STUDY, *overrides)
    assert len(plan["trials"]) == 20

    first = sweep("run", STUDY, *overrides)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "0 failed" in first.stdout and "interrupted" not in first.stdout

    trial_runs = [run for run in sweep.runs(STUDY) if run.data.tags["sweeps.kind"] == "trial"]
    # Q1–Q12: the 20 planned trials; Q13: its 12 samples; Q14 and Q15: one stage trial each.
    assert len(trial_runs) == 20 + 12 + 2
    client = MlflowClient(sweep.uri)
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
    # Q2's 2-epoch trials continued Q1's 1-epoch trials: their first epoch is that one's, logged as theirs.
    continued = {t["id"]: t["continues"] for t in plan["trials"] if "continues" in t}
    assert len(continued) == 2
    for longer, shorter in continued.items():
        assert by_trial[longer].data.tags["sweeps.continued_from"] == shorter
        first_epochs = [client.get_metric_history(by_trial[t].info.run_id, "val_acc")[0].value for t in (longer, shorter)]
        assert first_epochs[0] == first_epochs[1]

    started = time.monotonic()
    second = sweep("run", STUDY, *overrides)
    assert second.returncode == 0, second.stderr
    assert "0 trials to run" in second.stdout
    assert len([run for run in sweep.runs(STUDY) if run.data.tags["sweeps.kind"] == "trial"]) == 34
    assert time.monotonic() - started < 60  # the acceptance bar is 15 s on an idle machine
    assert {t["status"] for t in sweep.plan(STUDY, *overrides)["trials"]} == {"finished"}


@pytest.mark.parametrize("interruption", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "killed"])
def test_interrupted_run_resumes_without_duplicates(sweep: SweepCli, interruption: signal.Signals) -> None:
    # Three trials of 4 epochs on 3000 synthetic images (~0.5 s an epoch): long enough to interrupt.
    overrides = (
        "offline=true",
        "data=synthetic",
        "data.size=3000",
        "data.test_size=500",
        "trainer.epochs=4",
        f"tracking.uri={sweep.uri}",
        "--questions",
        "q03",
    )
    process = sweep.popen("run", STUDY, *overrides)
    wait_for_first_epoch(sweep.workdir / "mlflow.db", process)
    os.killpg(process.pid, interruption)
    output = process.communicate(timeout=120)[0]
    if interruption == signal.SIGINT:
        assert process.returncode == 130, output
        assert "interrupted: run the same command again to resume" in output
        assert all(run.info.status == "KILLED" for run in sweep.runs(STUDY) if run.info.status != "FINISHED")
    interrupted = {run.data.tags["sweeps.trial_id"] for run in sweep.runs(STUDY) if run.info.status != "FINISHED"}
    assert interrupted, "the interruption came too late: every trial had already finished"

    again = sweep("run", STUDY, *overrides)
    assert again.returncode == 0, again.stdout + again.stderr

    runs = sweep.runs(STUDY)
    assert len(runs) == 3  # one run per trial id: continued, not re-created
    assert len({run.data.tags["sweeps.trial_id"] for run in runs}) == 3
    client = MlflowClient(sweep.uri)
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
def test_course_study_runs_end_to_end_offline(sweep: SweepCli, study: str) -> None:
    overrides = ("offline=true", "trainer.epochs=1", f"tracking.uri={sweep.uri}")
    plan = sweep.plan(study, *overrides)
    result = sweep("run", study, *overrides, timeout=1200)  # syde522: 178 trials on 10,000–16,000 images
    assert result.returncode == 0, result.stdout + result.stderr

    client = MlflowClient(sweep.uri)
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


def test_repeats_are_ten_runs_in_one_group_and_not_rerun(sweep: SweepCli) -> None:
    overrides = ("offline=true", "trainer.epochs=1", f"tracking.uri={sweep.uri}", "--questions", "q01")
    first = sweep("run", "syde522", *overrides)
    assert first.returncode == 0, first.stdout + first.stderr

    client = MlflowClient(sweep.uri)
    experiment = client.get_experiment_by_name("syde522").experiment_id
    runs = client.search_runs([experiment], max_results=1000)
    assert len(runs) == 10
    assert len({run.data.tags["sweeps.group"] for run in runs}) == 1
    assert sorted(int(run.data.params["seed"]) for run in runs) == list(range(1, 11))
    losses = {run.data.metrics["train_loss"] for run in runs}
    assert len(losses) > 1  # fresh weights each time: the seeds really differ
    assert len(client.search_runs([experiment], filter_string=question_filter("q01"))) == 10
    folders = list((sweep.workdir / "sweeps_storage" / "syde522" / "checkpoints").iterdir())
    assert len(folders) == 10  # finished: only the latest state is kept (a longer trial would continue it)
    assert all([path.name for path in folder.iterdir()] == ["state.pt"] for folder in folders)

    second = sweep("run", "syde522", *overrides)
    assert second.returncode == 0 and "0 trials to run" in second.stdout
    assert len(client.search_runs([experiment], max_results=1000)) == 10


def _artifact_weights(client: MlflowClient, run_id: str, folder: Path) -> dict:
    import torch
    from mlflow.artifacts import download_artifacts

    path = download_artifacts(run_id=run_id, artifact_path="checkpoint/model.pt", dst_path=str(folder), tracking_uri=client.tracking_uri)
    return torch.load(path, weights_only=True)


def _assert_registered_model_scores_test_acc(sweep: SweepCli, tmp_path: Path, best: Any) -> None:
    """The registered version is an MLflow PyTorch model: loaded from the registry, it scores the best
    trial's test set (read with the trainable's own data code) at exactly the run's test_acc."""
    import mlflow
    import torch
    import yaml
    from mlflow.artifacts import download_artifacts

    from trainables.image.network import labelled_test_set

    mlflow.set_tracking_uri(sweep.uri)
    network = mlflow.pytorch.load_model("models:/jhu_fashion-q13/1")
    config_file = download_artifacts(
        run_id=best.info.run_id, artifact_path="config.yaml", dst_path=str(tmp_path), tracking_uri=sweep.uri
    )
    inputs, labels = labelled_test_set(yaml.safe_load(Path(config_file).read_text()), sweep.workdir / "data")
    with torch.no_grad():
        accuracy = (network(inputs).argmax(1) == labels).float().mean().item()
    assert accuracy == pytest.approx(best.data.metrics["test_acc"], abs=1e-9)


def test_search_then_evaluation_and_fine_tuning_stages(sweep: SweepCli, tmp_path: Path) -> None:
    import torch

    overrides = ("offline=true", "trainer.epochs=3", f"tracking.uri={sweep.uri}", "--questions", "q14,q15")
    first = sweep("run", STUDY, *overrides)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "is registered as model jhu_fashion-q13" in first.stdout

    client = MlflowClient(sweep.uri)
    runs = sweep.runs(STUDY)
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
    _assert_registered_model_scores_test_acc(sweep, tmp_path, best)

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

    again = sweep("run", STUDY, *overrides)
    assert again.returncode == 0 and "0 trials to run" in again.stdout, again.stdout + again.stderr
    assert len(sweep.runs(STUDY)) == len(runs)
