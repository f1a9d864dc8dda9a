"""Packs: the trials that one Ray trial trains together, in one fused step per batch.

Trials whose kind gives them the same pack key (same input shape, architecture and batch size, for
the image classifier) can share a step; each keeps its own trial id, checkpoint, resume point and
MLflow run. A trial whose kind cannot pack it (key None) is a pack of one, named by its own id.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sweeps.plan import PlannedTrial


@dataclass(frozen=True)
class Pack:
    id: str  # the trial id of a pack of one; else `pack-` and a hash of its members' ids
    members: tuple[PlannedTrial, ...]


def pack_id(member_ids: Sequence[str]) -> str:
    if len(member_ids) == 1:
        return member_ids[0]
    return "pack-" + hashlib.sha256(",".join(sorted(member_ids)).encode()).hexdigest()[:12]


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
