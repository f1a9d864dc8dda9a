"""End to end: a stale trial (its run's code hash is not this checkout's) is kept by `sweep run` and trained
again into a new run by `sweep run --rerun stale`; the old run keeps its data, tagged superseded, and no
read counts it. Also what `sweep run` prints off a terminal: one line per trial that ends, no library logs."""

from __future__ import annotations

import re

import pytest
from helpers.sweep_cli import SweepCli
from mlflow.tracking import MlflowClient

from sweeps.record.store import trial_runs
from sweeps.record.tags import CODE_HASH, SUPERSEDED
from trainables.code import code_hash

pytestmark = pytest.mark.slow
STUDY = "jhu_fashion"
OLD_CODE = "0123456789ab"
ENDED = re.compile(r"^\[jhu_fashion\] q03 optim\.lr=\S+: finished · val_acc \d\.\d{4} · (\d+)/(\d+) trials? done · ")


def test_rerun_stale_trains_a_stale_trial_again_into_a_new_run(sweep: SweepCli) -> None:
    overrides = ("offline=true", "trainer.epochs=1", f"tracking.uri={sweep.uri}", "--questions", "q03")
    first = sweep("run", STUDY, *overrides)
    assert first.returncode == 0, first.stdout + first.stderr
    lines = first.stdout.splitlines()
    ended = [match for line in lines if (match := ENDED.match(line))]
    assert [(m[1], m[2]) for m in ended] == [("1", "3"), ("2", "3"), ("3", "3")]  # one line per trial, total known
    assert lines[0] == f"{STUDY}: running 3 trials; MLflow: {sweep.uri}"
    everything = first.stdout + first.stderr
    assert not re.search(r"^\[[IWD] \d{4}-", everything, re.M), everything  # Optuna's log lines
    assert " INFO " not in everything and "Creating initial MLflow database" not in everything, everything

    client = MlflowClient(sweep.uri)
    runs = sweep.runs(STUDY)
    assert len(runs) == 3 and {run.data.tags[CODE_HASH] for run in runs} == {code_hash("image")}
    old = runs[0]
    trial_id = old.data.tags["sweeps.trial_id"]
    client.set_tag(old.info.run_id, CODE_HASH, OLD_CODE)  # as if the training code had changed since

    plan = sweep.plan(STUDY, *overrides)
    assert [t["id"] for t in plan["trials"] if t["stale"]] == [trial_id]
    assert plan["estimate"]["stale_trials"] == 1 and plan["estimate"]["stale_seconds"] > 0
    assert plan["estimate"]["machine"] == "this"

    kept = sweep("run", STUDY, *overrides)
    assert kept.returncode == 0 and "0 trials to run" in kept.stdout, kept.stdout + kept.stderr
    assert "1 finished trial trained by other code (stale) is kept; `sweep run --rerun stale` trains it again." in kept.stdout
    assert len(sweep.runs(STUDY)) == 3

    rerun = sweep("run", STUDY, *overrides, "--rerun", "stale")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "1 stale trial will be trained again into new runs." in rerun.stdout
    assert [(m[1], m[2]) for line in rerun.stdout.splitlines() if (m := ENDED.match(line))] == [("1", "1")]

    runs = sweep.runs(STUDY)
    assert len(runs) == 4  # the old run is kept
    again = client.get_run(old.info.run_id)
    assert again.data.tags[SUPERSEDED] == "true" and again.info.status == "FINISHED"
    assert again.data.metrics["val_acc"] == old.data.metrics["val_acc"]  # its data kept
    (new,) = [run for run in runs if run.data.tags["sweeps.trial_id"] == trial_id and run.info.run_id != old.info.run_id]
    assert new.info.status == "FINISHED" and new.data.tags[CODE_HASH] == code_hash("image")
    steps = [metric.step for metric in client.get_metric_history(new.info.run_id, "val_acc")]
    assert steps == [1]  # trained from scratch, not resumed from the old run's final checkpoint
    current = trial_runs(client, client.get_experiment_by_name(STUDY).experiment_id)
    assert len(current) == 3 and current[trial_id].info.run_id == new.info.run_id
    plan = sweep.plan(STUDY, *overrides)
    assert {(t["status"], t["stale"]) for t in plan["trials"]} == {("finished", False)}
