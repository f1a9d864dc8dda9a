"""The training-function contract, held as a function trains (docs/training-functions.md).

A training function is a `kinds.Train`: `train(config, data_root, report, placement, resume)` calls
`report(EpochReport(epoch, metrics, checkpoint, confusion_matrix))` once per epoch. `checked` wraps one
so that what it reports is what the service can record, and says in one line where it is not:

- epochs come in order, one report each: len(history)+1 … trainer.epochs (epoch 0 alone when
  trainer.epochs is 0: a stage that only evaluates its starting weights);
- metrics are a dict of metric names to numbers (int or float; not bool), with REQUIRED among them;
- the checkpoint is a dict; the service adds `history`, the metrics of every epoch reported so far,
  when the function's own checkpoint has none (what a resumed trial and its run are filled in from).

A function resumed from a checkpoint that holds every epoch is not called: its last epoch is reported
again from the history, as the built-in kinds do. A non-finite `train_loss` ends the trial as diverged.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from trainables.callback import Checkpoint, EpochReport, Report
from trainables.kinds import Train
from trainables.placement import Placement

# Every report holds these: the score the reports' tables and curves show and searches and stages rank
# by unless a study names another metric (which the function must then report too).
REQUIRED: tuple[str, ...] = ("val_acc",)


class TrainingFunctionError(ValueError):
    """A training function broke its contract; the message is one line naming the function."""


class _Diverged(Exception):
    """Raised from `report` after a diverged epoch: the function trains no further."""


def checked(function: Callable[..., None], name: str) -> Train:
    """`function` (named `name`, MODULE:FUNCTION) as a Train whose reports are checked as they come."""

    def train(
        config: Mapping[str, Any],
        data_root: str | Path,
        report: Report,
        placement: Placement = Placement(),
        resume: Checkpoint | None = None,
    ) -> None:
        epochs = int(config["trainer"]["epochs"])
        history: list[dict[str, float]] = [dict(metrics) for metrics in (resume or {}).get("history", [])]
        if epochs > 0 and len(history) >= epochs:  # trained to the end, stopped before the service saw it
            assert resume is not None
            report(EpochReport(epochs, history[epochs - 1], lambda: dict(resume), None))
            return
        expected = list(range(len(history) + 1, epochs + 1)) or [0]
        sent: list[int] = []

        def on_epoch(epoch_report: EpochReport) -> None:
            if not isinstance(epoch_report, EpochReport):
                raise TrainingFunctionError(f"trainable {name}: report() takes an EpochReport, got a {type(epoch_report).__name__}")
            if len(sent) == len(expected) or epoch_report.epoch != expected[len(sent)]:
                want = f"epoch {expected[len(sent)]}" if len(sent) < len(expected) else f"no report after epoch {expected[-1]}"
                raise TrainingFunctionError(f"trainable {name}: reported epoch {epoch_report.epoch!r}; expected {want}")
            metrics = {**numeric_metrics(epoch_report.metrics, name, epoch_report.epoch), "epoch": float(epoch_report.epoch)}
            sent.append(epoch_report.epoch)
            history.append(metrics)
            so_far = [dict(earlier) for earlier in history]
            diverged = epoch_report.diverged or not math.isfinite(metrics.get("train_loss", 0.0))
            checkpoint = _with_history(epoch_report.checkpoint, so_far, name)
            report(replace(epoch_report, metrics=metrics, checkpoint=checkpoint, diverged=diverged))
            if diverged:
                raise _Diverged

        try:
            function(config, data_root, on_epoch, placement, resume)
        except _Diverged:
            return
        if not sent:
            raise TrainingFunctionError(f"trainable {name}: returned without reporting an epoch (report() once per epoch)")
        if sent != expected:
            raise TrainingFunctionError(f"trainable {name}: returned after epoch {sent[-1]} of {expected[-1]}")

    return train


def numeric_metrics(metrics: Any, name: str, epoch: int) -> dict[str, float]:
    """`metrics` as names → floats; TrainingFunctionError naming the first that is not a number, or the
    first of REQUIRED that is missing."""
    if not isinstance(metrics, Mapping):
        raise TrainingFunctionError(f"trainable {name}: epoch {epoch} reported metrics as a {type(metrics).__name__}, not a dict")
    for key, value in metrics.items():
        if not isinstance(key, str) or isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TrainingFunctionError(f"trainable {name}: epoch {epoch} reported {key}={value!r}, not a number")
    missing = [key for key in REQUIRED if key not in metrics]
    if missing:
        needed = ", ".join(REQUIRED)
        raise TrainingFunctionError(f"trainable {name}: epoch {epoch} did not report {missing[0]} (every report needs {needed})")
    return {key: float(value) for key, value in metrics.items()}


def _with_history(checkpoint: Callable[[], Checkpoint], history: list[dict[str, float]], name: str) -> Callable[[], Checkpoint]:
    def take() -> Checkpoint:
        state = checkpoint()
        if not isinstance(state, dict):
            raise TrainingFunctionError(f"trainable {name}: checkpoint() returned a {type(state).__name__}, not a dict")
        return state if "history" in state else {**state, "history": history}

    return take
