"""The kinds of trainable a trial can be: each brings its config schema, its training function and
two planning hooks. A new kind of work plugs in here (one line in KINDS), not in `sweeps/`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainables.schema import TrialBase

# Kind name → the module that defines `KIND` (imported when first used).
KINDS: dict[str, str] = {
    "image": "trainables.image.kind",
    "text": "trainables.text.kind",
}


@dataclass(frozen=True)
class Kind:
    schema: type[TrialBase]  # validates a resolved trial config; its JSON (less NOT_HASHED) is the id
    train: Callable[..., None]  # train(config, data_root, report, placement, resume): see trainables/image/loop.py
    parameters: Callable[[Mapping[str, Any]], int]  # plan time: model fits the data? trainable parameters
    ensure_available: Callable[[Mapping[str, Any], str | Path], None]  # before trials: fetch or check data files


def kind(name: str) -> Kind:
    if name not in KINDS:
        raise ValueError(f"trainable: unknown trainable {name!r}; allowed: {', '.join(KINDS)}")
    return importlib.import_module(KINDS[name]).KIND  # type: ignore[no-any-return]
