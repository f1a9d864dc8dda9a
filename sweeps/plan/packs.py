"""Packs: the trials that one Ray trial trains together, in one fused step per batch.

Trials whose kind gives them the same pack key (same input shape, architecture and batch size, for
the image classifier) can share a step; each keeps its own trial id, checkpoint, resume point and
MLflow run. A trial whose kind cannot pack it (key None) is a pack of one, named by its own id.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sweeps.config.schema import ResourcesConfig
from sweeps.plan.prefixes import prefixes, reuse_steps
from sweeps.trials import DONE, Plan, PlannedTrial
from sweeps.words import plural
from trainables.function.resolve import trainable_kind

# `pack_size: auto`, by device: on a CPU only the trials their kind says pack faster there
# (Kind.packs_pay_on_cpu, from benchmarks/pack_speed.py); on a GPU every trial that can (benchmarks/gpu_study.py).
AUTO_PACK_SIZE = {"cpu": 16, "cuda": 64}
LISTED_PACKS = 12  # `sweep plan` lists each pack's size up to this many packs, then counts each size


@dataclass(frozen=True)
class Pack:
    id: str  # the trial id of a pack of one; else `pack-` and a hash of its members' ids
    members: tuple[PlannedTrial, ...]


def pack_id(member_ids: Sequence[str]) -> str:
    if len(member_ids) == 1:
        return member_ids[0]
    return "pack-" + hashlib.sha256(",".join(sorted(member_ids)).encode()).hexdigest()[:12]


def pack_limit(resources: ResourcesConfig) -> int:
    """The most members of one pack on the device the trials get (a GPU when gpus_per_trial > 0)."""
    if resources.pack_size != "auto":
        return resources.pack_size
    return AUTO_PACK_SIZE["cuda" if resources.gpus_per_trial > 0 else "cpu"]


def packs_of(trials: Sequence[PlannedTrial], resources: ResourcesConfig) -> list[Pack]:
    """`trials` in packs, as their kinds' pack keys and the resources' pack size allow."""
    keys: dict[str, str | None] = {}  # by group: a pack key never holds the seed, so one per variant

    def key(trial: PlannedTrial) -> str | None:
        if trial.group not in keys:
            keys[trial.group] = _key(trial, resources)
        return keys[trial.group]

    return form_packs(trials, pack_limit(resources), key)


def _key(trial: PlannedTrial, resources: ResourcesConfig) -> str | None:
    """The trial's pack key; None (alone) where `auto` on a CPU finds that packing it would not pay."""
    trainable = trainable_kind(trial.config["trainable"])
    auto_on_cpu = resources.pack_size == "auto" and resources.gpus_per_trial == 0
    if auto_on_cpu and not trainable.packs_pay_on_cpu(trial.config):
        return None
    return trainable.pack_key(trial.config)


def form_packs(trials: Sequence[PlannedTrial], limit: int, key: Callable[[PlannedTrial], str | None]) -> list[Pack]:
    """`trials` in order, consecutive members of a key filling packs of at most `limit` (1: no packs)."""
    groups: dict[str | None, list[list[PlannedTrial]]] = {}
    packs: list[list[PlannedTrial]] = []
    for trial in trials:
        shared = key(trial) if limit > 1 else None
        open_packs = groups.setdefault(shared, []) if shared is not None else []
        if open_packs and len(open_packs[-1]) < limit:
            open_packs[-1].append(trial)
            continue
        pack = [trial]
        packs.append(pack)
        if shared is not None:
            open_packs.append(pack)
    return [Pack(pack_id([member.id for member in pack]), tuple(pack)) for pack in packs]


def grid_packs(plan: Plan, trials: Sequence[PlannedTrial], continued: dict[str, PlannedTrial] | None = None) -> list[Pack]:
    """The packs a grid of `trials` trains in, in order: a trial that continues another (sweeps.plan.prefixes)
    a step after it, never in its pack. `continued`: `prefixes(plan.trials)`, if the caller has it already."""
    continued = prefixes(plan.trials) if continued is None else continued
    return [pack for step in reuse_steps(trials, continued) for pack in packs_of(step, plan.runtime.resources)]


def pending_packs(plan: Plan, continued: dict[str, PlannedTrial] | None = None) -> list[Pack]:
    """The packs the plan's unfinished grid trials would train in (`sweep plan` shows them)."""
    return grid_packs(plan, [trial for trial in plan.trials if trial.status not in DONE], continued)


def describe_packs(packs: Sequence[Pack]) -> str:
    """One line for people: how many trials train in how many packs, and how many alone."""
    shared = [pack for pack in packs if len(pack.members) > 1]
    alone = len(packs) - len(shared)
    if not shared:
        return f"packs: none, every trial trains alone ({plural(alone, 'trial')})"
    members = sum(len(pack.members) for pack in shared)
    sizes = ", ".join(str(len(pack.members)) for pack in shared)
    if len(shared) > LISTED_PACKS:  # e.g. `of 16 (×62), 8`: each size once, in order of first appearance
        counted = Counter(len(pack.members) for pack in shared)
        sizes = ", ".join(f"{size} (×{count})" if count > 1 else str(size) for size, count in counted.items())
    return f"packs: {plural(members, 'trial')} in {plural(len(shared), 'pack')} (of {sizes}), {alone} alone"

