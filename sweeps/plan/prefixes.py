"""Prefix reuse: a trial that differs from another only by a larger `trainer.epochs` continues that one.

No optimizer or trainer of a built-in kind has a schedule that depends on the number of epochs, so the first k epochs of
a 20-epoch trial are the 10-epoch trial's first k epochs, number for number (its seed, data order, noise
and updates are the same). The longer trial therefore starts from the shorter one's last checkpoint
(Q2's 20-epoch runs continue Q1's 10-epoch runs): it is ordered after it in the same grid, and its worker
copies that checkpoint when it starts (`sweeps.run.worker`; if the shorter trial has not finished by then, it
simply trains from scratch: the same numbers, only slower). Its MLflow run logs the shorter one's epochs
as its own first epochs (its curve shows them all) and records where it started (`sweeps.continued_from`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypedDict

from sweeps.record.checkpoints import checkpoint_dir, load_state, save_state
from trainables.kinds import KINDS

if TYPE_CHECKING:  # a trial's worker imports this module: it needs no planning (Hydra, pydantic)
    from sweeps.trials import Plan, PlannedTrial



def prefix_key(config: dict[str, Any]) -> str | None:
    """What trials that only train for longer than each other share: the config less `trainer.epochs`.
    None for a trial that trains nothing, starts from another's weights (a stage), or is a training function's
    (its first epochs may depend on how many it trains: a schedule over trainer.epochs)."""
    if config["trainer"]["epochs"] < 1 or config.get("init_from") or config["trainable"] not in KINDS:
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


def reuse_steps(pending: Sequence[PlannedTrial], continued: dict[str, PlannedTrial]) -> list[list[PlannedTrial]]:
    """`pending` in steps, each trial one step after the trial it continues (`continued`: `prefixes()`), in
    the plan's order within a step. A grid runs its trials in this order, so by the time a longer trial
    starts its shorter one has most likely finished; and a trial never shares a pack with the one it continues."""
    steps: dict[int, list[PlannedTrial]] = {}
    for trial in pending:
        steps.setdefault(_depth(trial, continued), []).append(trial)
    return [steps[depth] for depth in sorted(steps)]


def _depth(trial: PlannedTrial, continued: dict[str, PlannedTrial]) -> int:
    """0 for a trial that continues none, else one more than the trial it continues."""
    return 0 if trial.id not in continued else _depth(continued[trial.id], continued) + 1


def continue_prefix(own: str, shorter: str, shorter_epochs: int) -> bool:
    """Start a trial from the last checkpoint of the trial it continues: copied from folder `shorter` into
    `own` when `own` holds no checkpoint (it never started) and `shorter`'s holds all its epochs."""
    if load_state(own) is not None:
        return False  # it has started before: it resumes from its own checkpoint
    state = load_state(shorter)
    if state is None or len(state.get("history", [])) != shorter_epochs:
        return False  # the shorter trial has not finished here (or its checkpoint is gone): from scratch
    save_state(own, state)
    return True


class Continues(TypedDict):
    """The trial a longer one continues, as its worker gets it (`continues`)."""

    id: str
    checkpoint_dir: str
    epochs: int


def continues(plan: Plan, trial: PlannedTrial, continued: Mapping[str, PlannedTrial]) -> Continues | None:
    """What a trial's worker needs to continue the trial it only trains longer than (None: it continues none)."""
    shorter = continued.get(trial.id)
    if shorter is None:
        return None
    folder = checkpoint_dir(plan.runtime.paths.storage, plan.study, shorter.id)
    return {"id": shorter.id, "checkpoint_dir": folder, "epochs": shorter.config["trainer"]["epochs"]}
