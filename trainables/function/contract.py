"""The training-function contract as a check a user runs on their own function (docs/training-functions.md),
in a test or a notebook: `check_training_function("mycourse.train:train", config)`.

It trains `config` four times and a half, and fails (ContractViolation, an AssertionError: a failed
test under pytest) with one line on the first thing the service could not rely on:

1. straight through: one report per epoch, 1 … trainer.epochs, in order; each a dict of metric names
   to finite numbers holding every metric of `checked.REQUIRED` (val_acc); each checkpoint a dict that
   survives `torch.save` and `torch.load(weights_only=True)` (how the service stores it);
2. again with the same seed: the same numbers (timings aside: see `is_timing`);
3. with seed + 1: other numbers (the function uses config.seed);
4. interrupted after `interrupt_after` epochs, then resumed from that checkpoint (stored and read back
   as the service does): the remaining epochs' numbers are those of the straight run.

The built-in kinds pass it too (tests/test_training_function_contract.py).
"""

from __future__ import annotations

import copy
import io
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from trainables.callback import Checkpoint, EpochReport
from trainables.function.checked import TrainingFunctionError, checked, numeric_metrics
from trainables.function.resolve import trainable_kind
from trainables.function.schema import FunctionTrialConfig
from trainables.kinds import Kind, Train
from trainables.placement import Placement
from trainables.schema import TrialBase


class ContractViolation(AssertionError):
    """The training function does not keep the contract; the message is one line saying where."""


class _Stop(Exception):
    """Raised from the report callback: the run is interrupted there."""


def is_timing(metric: str) -> bool:
    """Whether a metric is a wall-clock measure (`epoch_seconds`, `examples_per_second`, `*_ms_*`): it
    is logged like any other, but never expected to repeat."""
    return "seconds" in metric or "per_second" in metric or "_ms_" in metric


def check_training_function(
    trainable: str | Kind | Callable[..., None],
    config: Mapping[str, Any],
    data_root: str | Path = "data",
    placement: Placement = Placement(),
    interrupt_after: int = 1,
) -> list[EpochReport]:
    """Check `trainable` (MODULE:FUNCTION, a kind's name, a Kind or the function itself) on `config`
    (a trial config: trainer.epochs of at least interrupt_after + 1); the straight run's reports."""
    train, name, schema = _trainable(trainable)
    trial = dict(schema.model_validate(config).model_dump(mode="json"))
    epochs = int(trial["trainer"]["epochs"])
    if not 1 <= interrupt_after < epochs:
        raise ContractViolation(f"trainable {name}: trainer.epochs={epochs} leaves no epoch to resume after epoch {interrupt_after}")

    straight = _run(train, trial, data_root, placement, name)
    _check_reports(straight, list(range(1, epochs + 1)), name, "")
    again = _run(train, trial, data_root, placement, name)
    _check_reports(again, list(range(1, epochs + 1)), name, " (the same seed again)")
    _same(straight, again, name, "trained again with the same seed")
    other = _run(train, {**copy.deepcopy(trial), "seed": trial["seed"] + 1}, data_root, placement, name)
    _check_reports(other, list(range(1, epochs + 1)), name, " (seed + 1)")
    if [_results(report) for report in other] == [_results(report) for report in straight]:
        seeds = f"seed {trial['seed'] + 1} reported the same numbers as seed {trial['seed']}"
        raise ContractViolation(f"trainable {name}: {seeds}: config.seed is not used")

    kept: list[Checkpoint] = []

    def interrupt(report: EpochReport) -> None:
        if report.epoch == interrupt_after:
            kept.append(_stored(report.checkpoint(), name, report.epoch))
            raise _Stop

    try:
        _call(train, trial, data_root, interrupt, placement, None)
    except _Stop:
        pass
    if not kept:
        raise ContractViolation(f"trainable {name}: never reported epoch {interrupt_after} when run again")
    resumed = _run(train, trial, data_root, placement, name, resume=kept[0])
    _check_reports(resumed, list(range(interrupt_after + 1, epochs + 1)), name, f" (resumed after epoch {interrupt_after})")
    _same(straight[interrupt_after:], resumed, name, f"resumed after epoch {interrupt_after}")
    return straight


def _trainable(trainable: str | Kind | Callable[..., None]) -> tuple[Train, str, type[TrialBase]]:
    """The Train to call as the service calls it (a function's reports checked as they come), its name
    and the schema of its trial configs."""
    if isinstance(trainable, Kind):
        return trainable.train, trainable.trainer, trainable.schema
    if not isinstance(trainable, str):
        name = f"{trainable.__module__}:{trainable.__qualname__}"
        return checked(trainable, name), name, FunctionTrialConfig
    try:
        kind = trainable_kind(trainable)
    except ValueError as error:
        raise ContractViolation(str(error)) from None
    return kind.train, kind.trainer, kind.schema


def _call(
    train: Train, config: Mapping[str, Any], data_root: str | Path, report: Callable[[EpochReport], None],
    placement: Placement, resume: Checkpoint | None,
) -> None:
    try:
        train(config, data_root, report, placement, resume)
    except TrainingFunctionError as error:
        raise ContractViolation(str(error)) from None


def _run(
    train: Train, config: Mapping[str, Any], data_root: str | Path, placement: Placement, name: str, resume: Checkpoint | None = None
) -> list[EpochReport]:
    """Every report of one call, each epoch's checkpoint taken, stored and read back as the service does."""
    reports: list[EpochReport] = []

    def keep(report: EpochReport) -> None:
        if not isinstance(report, EpochReport):
            raise ContractViolation(f"trainable {name}: report() takes an EpochReport, got a {type(report).__name__}")
        _stored(report.checkpoint(), name, report.epoch)
        reports.append(report)

    _call(train, copy.deepcopy(dict(config)), data_root, keep, placement, copy.deepcopy(resume))
    return reports


def _check_reports(reports: list[EpochReport], epochs: list[int], name: str, when: str) -> None:
    got = [report.epoch for report in reports]
    if got != epochs:
        raise ContractViolation(f"trainable {name}: reported epochs {got}{when}; expected {epochs} (one report per epoch)")
    for report in reports:
        try:
            metrics = numeric_metrics(report.metrics, name, report.epoch)
        except TrainingFunctionError as error:
            raise ContractViolation(str(error)) from None
        bad = next((key for key, value in metrics.items() if not math.isfinite(value)), None)
        if bad is not None and not report.diverged:
            raise ContractViolation(f"trainable {name}: epoch {report.epoch} reported {bad}={metrics[bad]}{when}, not a finite number")


def _stored(state: Any, name: str, epoch: int) -> Checkpoint:
    """`state` after torch.save and torch.load(weights_only=True): what a resumed trial gets."""
    import torch

    if not isinstance(state, dict):
        raise ContractViolation(f"trainable {name}: epoch {epoch}'s checkpoint() returned a {type(state).__name__}, not a dict")
    buffer = io.BytesIO()
    try:
        torch.save(state, buffer)
        buffer.seek(0)
        return torch.load(buffer, map_location="cpu", weights_only=True)
    except Exception as error:  # pickling and the weights-only unpickler raise many kinds
        first = (str(error).strip().splitlines() or [""])[0]
        raise ContractViolation(
            f"trainable {name}: epoch {epoch}'s checkpoint does not survive torch.save/torch.load(weights_only=True): {first}"
        ) from None


def _results(report: EpochReport) -> dict[str, Any]:
    return {key: value for key, value in report.metrics.items() if not is_timing(key)}


def _same(expected: list[EpochReport], got: list[EpochReport], name: str, how: str) -> None:
    """The numbers of `got` are those of `expected`, epoch by epoch (timings aside)."""
    for first, second in zip(expected, got, strict=True):
        a, b = _results(first), _results(second)
        for key in sorted(a.keys() | b.keys()):
            if a.get(key) != b.get(key) and not (_nan(a.get(key)) and _nan(b.get(key))):
                raise ContractViolation(
                    f"trainable {name}: {how}, epoch {second.epoch} reported {key}={b.get(key)}; straight through it was {a.get(key)}"
                )


def _nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)
