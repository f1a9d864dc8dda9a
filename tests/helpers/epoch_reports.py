"""What a trainable's `train` reported, for the tests that call it directly (the image and the text loop alike)."""

from __future__ import annotations

import torch

from trainables.callback import Checkpoint, EpochReport
from trainables.function.contract import is_timing


class Stop(Exception):
    """Raised from the report callback: the trial is interrupted."""


class Run:
    """Every report of one `train` call, with a checkpoint taken at each epoch."""

    def __init__(self) -> None:
        self.reports: list[EpochReport] = []
        self.checkpoints: list[Checkpoint] = []

    def __call__(self, report: EpochReport) -> None:
        self.reports.append(report)
        self.checkpoints.append(report.checkpoint())

    @property
    def epochs(self) -> list[int]:
        return [r.epoch for r in self.reports]

    @property
    def weights(self) -> dict[str, torch.Tensor]:
        return self.checkpoints[-1]["model"]


def results(report: EpochReport) -> dict[str, float]:
    """The metrics that must reproduce exactly: all but the wall-clock ones (epoch_seconds,
    examples_per_second, phase_*_seconds, *_ms_per_example)."""
    return {key: value for key, value in report.metrics.items() if not is_timing(key)}
