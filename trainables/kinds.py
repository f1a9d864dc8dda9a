"""The kinds of trainable a trial can be: each brings its config schema, its training function and
two planning hooks. A new kind of work plugs in here (one line in KINDS), not in `sweeps/`.

Planning imports a kind's schema and hooks only, which import no torch; its training function (and
torch with it) is imported when a trial trains.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainables.callback import Checkpoint, Report
from trainables.placement import Placement
from trainables.schema import DEFAULT_TRAINABLE, TrialBase

# Kind name → the module that defines `KIND` (imported when first used).
KINDS: dict[str, str] = {
    "image": "trainables.image.kind",
    "text": "trainables.text.kind",
}

# train(config, data_root, report, placement, resume): trains `config` (a validated trial config as
# plain data), calling `report` once per epoch; `resume` is a checkpoint one of those reports took.
Train = Callable[[Mapping[str, Any], str | Path, Report, Placement, Checkpoint | None], None]
# train_pack(configs, data_root, reports, placement, resumes): trains configs that share a pack key
# together; each one's reports and resume exactly as `Train` alone.
TrainPack = Callable[[Sequence[Mapping[str, Any]], str | Path, Sequence[Report], Placement, Sequence[Checkpoint | None]], None]


@dataclass(frozen=True)
class Kind:
    schema: type[TrialBase]  # validates a resolved trial config; its JSON (less NOT_HASHED) is the id
    trainer: str  # "module:function" of its Train, imported by `train` (a trial), never by planning
    # Plan time: model fits the data (files under the data root, where a kind reads its shape from them)? trainable parameters
    parameters: Callable[[Mapping[str, Any], Path], int]
    ensure_available: Callable[[Mapping[str, Any], str | Path], None]  # before trials: fetch or check data files
    # Plan time: trials with the same key can train as one pack (None: this trial trains alone). Neither
    # this nor packs_pay_on_cpu may depend on the seed: the planner asks once per group of repeats.
    pack_key: Callable[[Mapping[str, Any]], str | None] = lambda config: None
    pack_trainer: str | None = None  # "module:function" of its TrainPack, if the kind packs
    # Plan time: whether this trial trains faster in a pack than alone on a CPU (benchmarks/pack_speed.py);
    # on a GPU a pack always pays.
    packs_pay_on_cpu: Callable[[Mapping[str, Any]], bool] = lambda config: False

    @property
    def train(self) -> Train:
        """The kind's training function, its module imported now (and torch with it)."""
        return _imported(self.trainer)

    @property
    def train_pack(self) -> TrainPack:
        """The kind's pack training function (imported now); only for a kind with a pack_trainer."""
        if self.pack_trainer is None:
            raise ValueError("this kind of trainable trains every trial alone")
        return _imported(self.pack_trainer)


def _imported(path: str) -> Any:
    module, _, function = path.partition(":")
    return getattr(importlib.import_module(module), function)


def trainable_of(config: Mapping[str, Any]) -> str:
    """The kind a trial config names (or its run's params, where `trainable` is a top-level key too)."""
    return config.get("trainable", DEFAULT_TRAINABLE)


def kind(name: str) -> Kind:
    if name not in KINDS:
        raise ValueError(f"trainable: unknown trainable {name!r}; allowed: {', '.join(KINDS)}")
    return importlib.import_module(KINDS[name]).KIND
