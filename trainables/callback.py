"""The one small callback every trainable reports through.

A trainable's `train(config, data_root, report, placement, resume)` calls `report` once per epoch;
the last call also carries the test set's confusion matrix (single-label kinds). `report.checkpoint()` returns the state
that `train(..., resume=state)` continues from, as if it had never stopped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Checkpoint = dict[str, Any]


@dataclass(frozen=True)
class EpochReport:
    epoch: int  # epochs completed, from 1
    metrics: dict[str, float]
    checkpoint: Callable[[], Checkpoint]  # state that resumes after this epoch; taken only when called
    confusion_matrix: list[list[int]] | None  # test set, rows = true class; after the last epoch only


Report = Callable[[EpochReport], None]

