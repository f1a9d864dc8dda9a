"""Prefix reuse: a trial that differs from another only by a larger `trainer.epochs` continues that one.

No optimizer or trainer here has a schedule that depends on the number of epochs, so the first k epochs of
a 20-epoch trial are the 10-epoch trial's first k epochs, number for number (its seed, data order, noise
and updates are the same). The longer trial therefore starts from the shorter one's last checkpoint
(Q2's 20-epoch runs continue Q1's 10-epoch runs): it runs after it, in a later wave of the grid, its
MLflow run logs the shorter one's epochs as its own first epochs (its curve shows them all) and records
where it started (`sweeps.continued_from`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sweeps.checkpoints import checkpoint_dir, load_state, save_state
from sweeps.plan import Plan, PlannedTrial

CONTINUED_FROM = "sweeps.continued_from"  # tag: the trial whose last checkpoint this trial started from


def prefix_key(config: dict[str, Any]) -> str | None:
    """What trials that only train for longer than each other share: the config less `trainer.epochs`.
    None for a trial that trains nothing or starts from another's weights (a stage)."""
    if config["trainer"]["epochs"] < 1 or config.get("init_from"):
        return None
    trainer = {key: value for key, value in config["trainer"].items() if key != "epochs"}
    return json.dumps({**config, "trainer": trainer}, sort_keys=True)


def prefixes(trials: Sequence[PlannedTrial]) -> dict[str, PlannedTrial]:
    """Trial id → the trial it continues: of the trials with its prefix key, the longest shorter one."""
    groups: dict[str, list[PlannedTrial]] = {}
    for trial in trials:
        key = prefix_key(trial.config)
        if key is not None:
            groups.setdefault(key, []).append(trial)
    continued: dict[str, PlannedTrial] = {}
    for group in groups.values():
        ordered = sorted(group, key=lambda trial: trial.config["trainer"]["epochs"])
        for shorter, longer in zip(ordered, ordered[1:], strict=False):
            if longer.config["trainer"]["epochs"] > shorter.config["trainer"]["epochs"]:
                continued[longer.id] = shorter
    return continued


def waves(pending: Sequence[PlannedTrial], trials: Sequence[PlannedTrial]) -> list[list[PlannedTrial]]:
    """`pending` in the order they can run: a trial after the unfinished trial it continues (if any)."""
    continued = prefixes(trials)
    waiting = {trial.id for trial in pending}
    result: list[list[PlannedTrial]] = []
    left = list(pending)
    while left:
        wave = [t for t in left if t.id not in continued or continued[t.id].id not in waiting]
        result.append(wave)
        waiting -= {trial.id for trial in wave}
        left = [t for t in left if t not in wave]
    return result


def continue_prefixes(plan: Plan, trials: Sequence[PlannedTrial]) -> dict[str, str]:
    """For each of `trials` that has no checkpoint of its own and continues a trial whose last checkpoint
    holds all its epochs, that checkpoint copied into the trial's folder; trial id → the id it continues."""
    continued = prefixes(plan.trials)
    started: dict[str, str] = {}
    for trial in trials:
        shorter = continued.get(trial.id)
        if shorter is None:
            continue
        own = checkpoint_dir(plan.runtime.paths.storage, plan.study, trial.id)
        if load_state(own) is not None:
            continue  # it has started before: it resumes from its own checkpoint
        state = load_state(checkpoint_dir(plan.runtime.paths.storage, plan.study, shorter.id))
        if state is None or len(state.get("history", [])) != shorter.config["trainer"]["epochs"]:
            continue  # the shorter trial never finished here (or its checkpoint is gone): from scratch
        save_state(own, state)
        started[trial.id] = shorter.id
    return started
