"""A training function that reports, each epoch, the torch threads it trained that epoch with (`threads`),
and sleeps `trainer.sleep` seconds an epoch in place of training: the trials of tests/test_cores_e2e.py."""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from trainables.callback import Checkpoint, EpochReport, Report
from trainables.placement import Placement


def train(
    config: Mapping[str, Any],
    data_root: str | Path,
    report: Report,
    placement: Placement = Placement(),
    resume: Checkpoint | None = None,
) -> None:
    torch.set_num_threads(placement.threads)
    done = len(resume["history"]) if resume is not None and "history" in resume else 0
    for epoch in range(done + 1, int(config["trainer"]["epochs"]) + 1):
        threads = torch.get_num_threads()  # the epoch's threads: any raise comes after its report
        time.sleep(float(config["trainer"]["sleep"]))
        report(EpochReport(epoch, {"val_acc": 0.5, "threads": threads}, functools.partial(dict, epochs=epoch), None))
