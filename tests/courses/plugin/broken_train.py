"""Training functions that each break one rule of the contract (tests/test_training_functions.py), built
on spiral_train.train so that everything else about them is right."""

from __future__ import annotations

import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import spiral_train

from trainables.callback import Checkpoint, EpochReport, Report
from trainables.placement import Placement

Config = Mapping[str, Any]
Root = str | Path
Resume = Checkpoint | None
NOT_CALLABLE = 3


def two_arguments(config: Config, report: Report) -> None:
    """What a function written for another tool's call looks like."""


def never_reports(config: Config, data_root: Root, report: Report, placement: Placement, resume: Resume) -> None:
    spiral_train.train(config, data_root, lambda epoch: None, placement, resume)


def reports_text(config: Config, data_root: Root, report: Report, placement: Placement, resume: Resume) -> None:
    def worded(epoch: EpochReport) -> None:
        report(EpochReport(epoch.epoch, {**epoch.metrics, "val_acc": "high"}, epoch.checkpoint, None))  # type: ignore[dict-item]

    spiral_train.train(config, data_root, worded, placement, resume)


def lacks_val_acc(config: Config, data_root: Root, report: Report, placement: Placement, resume: Resume) -> None:
    def renamed(epoch: EpochReport) -> None:
        metrics = {("accuracy" if key == "val_acc" else key): value for key, value in epoch.metrics.items()}
        report(EpochReport(epoch.epoch, metrics, epoch.checkpoint, None))

    spiral_train.train(config, data_root, renamed, placement, resume)


def ignores_seed(config: Config, data_root: Root, report: Report, placement: Placement, resume: Resume) -> None:
    spiral_train.train({**config, "seed": 0}, data_root, report, placement, resume)


def unseeded(config: Config, data_root: Root, report: Report, placement: Placement, resume: Resume) -> None:
    spiral_train.train({**config, "seed": random.randrange(1 << 30)}, data_root, report, placement, resume)


def restarts_on_resume(config: Config, data_root: Root, report: Report, placement: Placement, resume: Resume) -> None:
    """Trains the remaining epochs from fresh weights: what forgetting to load the checkpoint does."""
    done = len((resume or {}).get("history", []))

    def renumbered(epoch: EpochReport) -> None:
        if epoch.epoch <= config["trainer"]["epochs"] - done:
            report(EpochReport(epoch.epoch + done, epoch.metrics, epoch.checkpoint, None))

    spiral_train.train(config, data_root, renumbered, placement, None)


def keeps_a_function(config: Config, data_root: Root, report: Report, placement: Placement, resume: Resume) -> None:
    def with_function(epoch: EpochReport) -> None:
        report(EpochReport(epoch.epoch, epoch.metrics, lambda: {**epoch.checkpoint(), "schedule": len}, None))

    spiral_train.train(config, data_root, with_function, placement, resume)


def skips_an_epoch(config: Config, data_root: Root, report: Report, placement: Placement, resume: Resume) -> None:
    def odd(epoch: EpochReport) -> None:
        if epoch.epoch % 2:
            report(epoch)

    spiral_train.train(config, data_root, odd, placement, resume)


def diverges(config: Config, data_root: Root, report: Report, placement: Placement, resume: Resume) -> None:
    """Not broken: a training loss that is NaN from epoch 2 on (an optimizer that diverged)."""

    def nan_from_2(epoch: EpochReport) -> None:
        loss = epoch.metrics["train_loss"] if epoch.epoch < 2 else float("nan")
        report(EpochReport(epoch.epoch, {**epoch.metrics, "train_loss": loss}, epoch.checkpoint, None))

    spiral_train.train(config, data_root, nan_from_2, placement, resume)
