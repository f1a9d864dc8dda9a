"""Stale trials (finished by other code than this checkout's) and their retirement, on a store written
without training (tests/report_store.py): the plan marks and counts them; a retired run keeps its data
but is left out of every read."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from helpers.report_store import Outcome, write_store
from helpers.statuses import read_statuses
from mlflow.tracking import MlflowClient

from sweeps.plan.build import plan_study
from sweeps.plan.text import print_plan
from sweeps.record.checkpoints import checkpoint_dir, load_state, save_state
from sweeps.record.store import apply_statuses, trial_runs
from sweeps.record.tags import CODE_HASH, SUPERSEDED
from sweeps.record.tracking import StudyRuns
from sweeps.report.collect import read_study
from sweeps.run.rerun import retire_search, retire_stale_trials, stale_note, stale_search
from sweeps.trials import Plan
from trainables.code import code_hash

STUDY = "jhu_fashion"
OLD_CODE = "0123456789ab"


def _plan(tmp_path: Path, questions: list[str]) -> Plan:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    overrides = ["offline=true", "trainer.epochs=1", f"tracking.uri={uri}", f"paths.storage={tmp_path / 'storage'}"]
    return plan_study(STUDY, overrides, questions)


@pytest.fixture
def stored(tmp_path: Path) -> tuple[Plan, dict[str, str]]:
    """q03's three trials finished; the first one by other code."""
    plan = _plan(tmp_path, ["q03"])
    run_ids = write_store(plan.runtime.tracking.uri, plan, lambda trial: Outcome([0.5]))
    MlflowClient(plan.runtime.tracking.uri).set_tag(run_ids[plan.trials[0].id], CODE_HASH, OLD_CODE)
    return plan, run_ids


def test_every_trial_run_records_the_code_hash(stored: tuple[Plan, dict[str, str]]) -> None:
    plan, run_ids = stored
    client = MlflowClient(plan.runtime.tracking.uri)
    assert client.get_run(run_ids[plan.trials[1].id]).data.tags[CODE_HASH] == code_hash("image")


def test_the_plan_marks_and_counts_stale_trials(stored: tuple[Plan, dict[str, str]]) -> None:
    plan, _ = stored
    apply_statuses(plan)
    first, *others = plan.trials
    assert first.status == "finished" and first.stale and first.code_hash == OLD_CODE
    assert all(trial.status == "finished" and not trial.stale for trial in others)
    document = plan.to_json()
    assert [(t["stale"], t["code_hash"]) for t in document["trials"]] == [
        (True, OLD_CODE), (False, code_hash("image")), (False, code_hash("image"))
    ]  # fmt: skip
    out = io.StringIO()
    print_plan(plan, out)
    text = out.getvalue()
    assert f"{first.id}  finished (stale)" in text
    assert "3 question-variants, 3 unique trials: 3 finished (1 stale), 0 partial, 0 new" in text
    note = stale_note(plan)
    assert note is not None and note.startswith("stale: 1 finished trial was trained by other code")
    assert "`sweep run` keeps it, `sweep run --rerun stale` trains it again into new runs" in note


def test_a_run_without_a_code_hash_is_stale(stored: tuple[Plan, dict[str, str]]) -> None:
    plan, run_ids = stored
    MlflowClient(plan.runtime.tracking.uri).delete_tag(run_ids[plan.trials[1].id], CODE_HASH)
    apply_statuses(plan)
    assert [trial.stale for trial in plan.trials] == [True, True, False]


def test_retiring_a_stale_trial_keeps_its_run_but_leaves_it_out_of_every_read(stored: tuple[Plan, dict[str, str]]) -> None:
    plan, run_ids = stored
    stale = plan.trials[0]
    folder = checkpoint_dir(plan.runtime.paths.storage, plan.study, stale.id)
    save_state(folder, {"model": {}, "history": [{"epoch": 1}]})
    apply_statuses(plan)
    runs = StudyRuns(plan.runtime.tracking.uri, plan.study)
    assert retire_stale_trials(plan, runs, plan.trials) == [stale]
    assert stale.status == "new" and not stale.stale
    assert load_state(folder) is None  # the next start trains from scratch
    client = MlflowClient(plan.runtime.tracking.uri)
    old = client.get_run(run_ids[stale.id])
    assert old.data.tags[SUPERSEDED] == "true" and old.info.status == "FINISHED"
    assert old.data.metrics["val_acc"] == 0.5  # its data kept
    assert stale.id not in trial_runs(client, runs.experiment_id)
    assert stale.id not in read_statuses(plan.runtime.tracking.uri, plan.study)
    assert stale.id not in read_study(plan).runs  # the report shows it missing until it runs again
    apply_statuses(plan)
    assert stale.status == "new"
    # Its next run is a new run under the same trial id, and the one every read finds.
    run_id, logged = StudyRuns(plan.runtime.tracking.uri, plan.study).open(stale, offline=True)
    assert run_id != run_ids[stale.id] and logged == -1
    assert trial_runs(client, runs.experiment_id)[stale.id].info.run_id == run_id


def test_a_search_with_a_stale_sample_is_retired_whole(tmp_path: Path) -> None:
    plan = _plan(tmp_path, ["q03"])
    uri = plan.runtime.tracking.uri
    runs = StudyRuns(uri, plan.study)
    parent, done = runs.search_run("q13")
    assert not done
    samples = plan.trials[:2]  # stand-ins for two of q13's samples
    for value, sample in zip((0.6, 0.8), samples, strict=True):
        sample.questions[:] = ["q13"]
        run_id, _ = runs.open(sample, offline=True, tags={"mlflow.parentRunId": parent})
        runs.log_epochs(run_id, [{"epoch": 1, "val_acc": value}])
        runs.end_trial(run_id, "finished")
    runs.close(parent, "FINISHED")
    assert runs.search_done("q13") and stale_search(runs, "q13") is None  # trained by this code: not stale
    best = runs.best_trial("q13", "val_acc", "max")
    assert best is not None and best.data.metrics["val_acc"] == 0.8
    MlflowClient(uri).set_tag(best.info.run_id, CODE_HASH, OLD_CODE)
    found = stale_search(runs, "q13")
    assert found is not None and found[0].info.run_id == parent and len(found[1]) == 2
    retire_search(plan, runs, *found)
    assert not runs.search_done("q13")
    assert runs.best_trial("q13", "val_acc", "max") is None  # no sample of a retired search is chosen
    assert not trial_runs(runs.client, runs.experiment_id)
    new_parent, done = runs.search_run("q13")
    assert new_parent != parent and not done
