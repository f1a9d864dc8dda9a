"""Prefix reuse: a trial that only trains longer than another continues that one's last checkpoint, and
computes exactly what it would have computed from scratch."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from sweeps.plan.build import plan_study
from sweeps.plan.prefixes import continue_prefix, continues, prefixes, reuse_steps
from sweeps.record.checkpoints import checkpoint_dir, load_state, save_state
from sweeps.trials import Plan, PlannedTrial
from trainables.callback import EpochReport
from trainables.image.loop import train
from trainables.placement import Placement


def _trial(trial_id: str, epochs: int, **changes: Any) -> PlannedTrial:
    config: dict[str, Any] = {"seed": 1, "trainable": "image", "optim": {"lr": 0.1}, "trainer": {"epochs": epochs, "batch_size": 8}}
    config.update(changes)
    return PlannedTrial(trial_id, config, trial_id, 0, "g")


def test_a_longer_trial_continues_the_longest_shorter_one() -> None:
    one, two, four = _trial("e1", 1), _trial("e2", 2), _trial("e4", 4)
    other = _trial("lr", 4, optim={"lr": 0.5})  # another learning rate: continues nothing
    stage = _trial("st", 8, init_from="e4")  # starts from another trial's weights: never a continuation
    assert {k: v.id for k, v in prefixes([four, other, one, two, stage]).items()} == {"e2": "e1", "e4": "e2"}


def test_a_trial_runs_a_step_after_the_trial_it_continues() -> None:
    one, two, four, other = _trial("e1", 1), _trial("e2", 2), _trial("e4", 4), _trial("lr", 4, optim={"lr": 0.5})
    continued = prefixes([one, two, four, other])
    steps = reuse_steps([four, two, one, other], continued)
    assert [[t.id for t in step] for step in steps] == [["e1", "lr"], ["e2"], ["e4"]]  # the plan's order within one
    assert [[t.id for t in step] for step in reuse_steps([two], continued)] == [["e2"]]  # e1 finished: e2 runs first


def test_q2s_longer_runs_continue_q1s() -> None:
    plan = plan_study("jhu_fashion", ["offline=true"], questions=["q01", "q02"])
    continued = prefixes(plan.trials)
    assert len(continued) == 2
    for longer_id, shorter in continued.items():
        longer = plan.trial(longer_id)
        assert (shorter.config["trainer"]["epochs"], longer.config["trainer"]["epochs"]) == (10, 20)
        assert {**longer.config, "trainer": {}} == {**shorter.config, "trainer": {}}
        assert "q01" in shorter.questions and "q02" in longer.questions


@pytest.fixture
def digits_plan(tmp_path: Path) -> Plan:
    overrides = ["offline=true", "data=digits", "trainer.epochs=1", "trainer.batch_size=128", f"paths.storage={tmp_path}"]
    return plan_study("jhu_fashion", overrides, questions=["q02"])


def test_a_continued_trial_equals_the_same_trial_from_scratch(digits_plan: Plan, tmp_path: Path) -> None:
    longer_id, shorter = next(iter(prefixes(digits_plan.trials).items()))
    longer = digits_plan.trial(longer_id)
    reports: list[EpochReport] = []
    train(shorter.config, "data", reports.append, Placement(threads=2))
    save_state(checkpoint_dir(digits_plan.runtime.paths.storage, digits_plan.study, shorter.id), reports[-1].checkpoint())

    wanted = continues(digits_plan, longer, prefixes(digits_plan.trials))
    assert wanted is not None and wanted["id"] == shorter.id
    own_folder = checkpoint_dir(digits_plan.runtime.paths.storage, digits_plan.study, longer.id)
    assert continue_prefix(own_folder, wanted["checkpoint_dir"], wanted["epochs"])
    own = load_state(own_folder)
    continued: list[EpochReport] = []
    train(longer.config, "data", continued.append, Placement(threads=2), own)
    scratch: list[EpochReport] = []
    train(copy.deepcopy(longer.config), "data", scratch.append, Placement(threads=2))
    assert [r.epoch for r in continued] == [2] and [r.epoch for r in scratch] == [1, 2]
    assert continued[-1].metrics == {**scratch[-1].metrics, **_timings(continued[-1].metrics)}
    assert continued[-1].confusion_matrix == scratch[-1].confusion_matrix
    assert own is not None and own["history"][0] == reports[-1].checkpoint()["history"][0]  # its epoch 1 is the shorter's


def test_nothing_is_copied_over_a_trials_own_checkpoint_or_from_an_unfinished_one(tmp_path: Path) -> None:
    own, shorter = str(tmp_path / "own"), str(tmp_path / "shorter")
    assert not continue_prefix(own, shorter, 1)  # the shorter trial has no checkpoint
    save_state(shorter, {"model": {}, "history": []})  # trained no epoch yet
    assert not continue_prefix(own, shorter, 1) and load_state(own) is None
    save_state(shorter, {"model": {}, "history": [{"epoch": 1.0}]})
    save_state(own, {"model": {}, "history": [{"epoch": 1.0}, {"epoch": 2.0}]})
    assert not continue_prefix(own, shorter, 1)  # it has started: its own checkpoint wins
    assert len(load_state(own)["history"]) == 2  # type: ignore[index]


def _timings(metrics: dict[str, float]) -> dict[str, float]:
    """The metrics that are wall-clock times: they differ between any two runs."""
    return {key: value for key, value in metrics.items() if key.endswith(("seconds", "per_second", "ms_per_example"))}
