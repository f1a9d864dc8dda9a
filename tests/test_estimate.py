"""`sweep plan`'s estimate of the run's duration, from a store whose runs took known seconds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.report_store import Outcome, write_store
from mlflow.tracking import MlflowClient

from sweeps.plan.build import plan_study
from sweeps.plan.estimate import estimate_plan
from sweeps.record.store import Reader, apply_statuses
from sweeps.record.tags import TRIAL_ROLE
from sweeps.trials import Plan
from trainables.machine import cpu_model

STUDY = "jhu_fashion"
EPOCHS = 4
# report_store logs epoch_seconds = 0.5 + 0.1 × epoch and eval_seconds = 0.05: the last epoch costs 0.95 s.
PER_EPOCH = 0.5 + 0.1 * EPOCHS + 0.05
PHASES = {"phase_data_load_seconds": 2.0, "phase_build_seconds": 1.0, "phase_test_seconds": 0.5}
PER_TRIAL = sum(PHASES.values()) + EPOCHS * PER_EPOCH  # 7.3 s
THIS_MACHINE = {"sys.cpu": cpu_model(), "sys.cpu_count": str(os.cpu_count()), "sys.gpu": "none"}


def _plan(uri: str, *extra: str) -> Plan:
    overrides = ["offline=true", f"trainer.epochs={EPOCHS}", "resources.num_cpus=1", f"tracking.uri={uri}", *extra]
    plan = plan_study(STUDY, overrides, ["q03"])  # three learning rates: one model, data and batch size
    apply_statuses(plan)
    return plan


def _store(tmp_path: Path, machine: dict[str, str] | None = THIS_MACHINE) -> tuple[str, Plan]:
    """q03's reference trial (optim.lr ×1) finished in the store, with known timings."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    plan = _plan(uri)
    reference = next(variant.trial for variant in plan.questions[0].variants if variant.reference)
    run_ids = write_store(uri, plan, lambda trial: Outcome([0.5] * EPOCHS) if trial.id == reference else None)
    client = MlflowClient(uri)
    for key, value in PHASES.items():
        client.log_metric(run_ids[reference], key, value, step=EPOCHS)
    if machine is not None:
        for key, value in machine.items():
            client.set_tag(run_ids[reference], key, value)
    return uri, plan


def test_the_estimate_sums_the_matching_runs_seconds_for_the_trials_to_run(tmp_path: Path) -> None:
    uri, _ = _store(tmp_path)
    estimate = estimate_plan(_plan(uri))
    assert len(estimate.trials) == 2 and not estimate.unestimated  # the other two learning rates
    assert estimate.parallel == 1  # resources.num_cpus=1, one CPU per trial
    assert estimate.seconds == pytest.approx(2 * PER_TRIAL)
    assert estimate.machine == "this"
    assert estimate.describe() == "estimate: about 0:14 for 2 trials (from this machine, 1 at a time)"
    two_at_a_time = estimate_plan(_plan(uri, "resources.num_cpus=2"))
    assert two_at_a_time.seconds == pytest.approx(PER_TRIAL)


def test_runs_of_this_machine_win_and_other_machines_are_said_to_be_other(tmp_path: Path) -> None:
    uri, _ = _store(tmp_path, machine={"sys.cpu": "Another CPU", "sys.cpu_count": "64", "sys.gpu": "none"})
    estimate = estimate_plan(_plan(uri))
    assert estimate.seconds == pytest.approx(2 * PER_TRIAL)
    assert estimate.machine == "other" and "from runs on another machine" in estimate.describe()


def test_another_batch_size_has_no_estimate(tmp_path: Path) -> None:
    uri, _ = _store(tmp_path)
    estimate = estimate_plan(_plan(uri, "trainer.batch_size=64"))  # every trial new, none matches
    assert len(estimate.trials) == 3 and estimate.seconds is None and len(estimate.unestimated) == 3
    assert estimate.describe() == (
        "estimate: no estimate for 3 trials (no earlier run with the same model, data and batch size)"
    )


def test_an_empty_store_has_no_estimate_and_planning_writes_nothing(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    estimate = estimate_plan(_plan(uri))
    assert estimate.seconds is None and estimate.machine is None
    assert not (tmp_path / "mlflow.db").exists()


def test_plan_json_has_the_estimate_and_the_text_says_it(tmp_path: Path) -> None:
    uri, _ = _store(tmp_path)
    command = [sys.executable, "-m", "sweeps", "plan", STUDY, "offline=true", f"trainer.epochs={EPOCHS}",
               "resources.num_cpus=1", f"tracking.uri={uri}", "--questions", "q03"]  # fmt: skip
    listed = subprocess.run([*command, "--json"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert listed.returncode == 0, listed.stderr
    document = json.loads(listed.stdout)
    assert document["estimate"]["seconds"] == pytest.approx(2 * PER_TRIAL)
    assert document["estimate"] | {"seconds": None} == {
        "seconds": None, "machine": "this", "parallel": 1, "trials": 2, "estimated": 2, "unestimated": [],
        "stale_trials": 0, "stale_seconds": None, "not_estimated": [],
    }  # fmt: skip
    assert {trial["status"] for trial in document["trials"]} == {"new", "finished"}  # the contract's keys stay
    text = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert text.stdout.splitlines()[-1] == "estimate: about 0:14 for 2 trials (from this machine, 1 at a time)"


def test_a_dropout_rate_does_not_change_the_cost(tmp_path: Path) -> None:
    uri, _ = _store(tmp_path)
    plan = plan_study(STUDY, ["offline=true", f"trainer.epochs={EPOCHS}", "resources.num_cpus=1", f"tracking.uri={uri}"], ["q05"])
    apply_statuses(plan)
    estimate = estimate_plan(plan)  # q05's other four dropout rates, from q03's reference run (dropout 0.5)
    assert len(estimate.trials) == 4 and not estimate.unestimated
    assert estimate.seconds == pytest.approx(4 * PER_TRIAL)


def test_with_the_study_runs_just_read_only_other_studies_are_searched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    uri, _ = _store(tmp_path)
    client = MlflowClient(uri)
    client.create_experiment("another_study")
    own = client.get_experiment_by_name(STUDY).experiment_id
    plan = _plan(uri)
    study_runs = apply_statuses(plan)
    import sweeps.plan.estimate as estimate_module

    searched: list[str] = []  # the experiments whose trial runs were read
    role_runs = estimate_module.role_runs

    def counted(reader: Reader, experiment_id: str, role: str) -> list[object]:
        if role == TRIAL_ROLE:
            searched.append(experiment_id)
        return role_runs(reader, experiment_id, role)

    monkeypatch.setattr(estimate_module, "role_runs", counted)
    estimate = estimate_plan(plan, study_runs)
    assert searched and own not in searched  # the study's own runs came from `study_runs`
    assert estimate.seconds == pytest.approx(2 * PER_TRIAL) and estimate.machine == "this"
    searched.clear()
    assert estimate_plan(plan).seconds == estimate.seconds
    assert own in searched  # without them: every study's, its own included
