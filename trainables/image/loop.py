"""The training loop of an image-classification trial (kinds.Train), on the shared epoch scaffold (epochs.py).

The data set sits in memory as one normalised tensor on the trial's device and is sliced per batch.
After every epoch the loop calls `report` with that epoch's metrics and a way to take a checkpoint;
`train(..., resume=state)` continues from such a checkpoint exactly as if it had never stopped.
The last report also carries the test set's metrics, the confusion matrix and the phase timings.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from trainables.callback import Checkpoint, Report
from trainables.epochs import final_report, run_epochs
from trainables.image.augment import center_crop
from trainables.image.data import InMemoryData, Split, load_data
from trainables.image.losses import LOSSES, Loss
from trainables.image.metrics import confusion_matrix, first_crossing
from trainables.image.model import dropouts, model_of
from trainables.image.schema import is_target
from trainables.image.sources import data_shape
from trainables.image.steps import EpochStats, SoloSteps
from trainables.optim import capturable
from trainables.placement import Placement
from trainables.state import TrialState, start


def train(
    config: Mapping[str, Any],
    data_root: str | Path,
    report: Report,
    placement: Placement = Placement(),
    resume: Checkpoint | None = None,
) -> None:
    """Train `config` (a validated trial config as plain data) for `config.trainer.epochs` epochs."""
    device = prepare_device(placement)
    clock = time.perf_counter()
    data = prepared_data(config["data"], data_root, device, placement)
    phases = {"data_load": time.perf_counter() - clock}
    clock = time.perf_counter()
    state = start_trial(config, data_root, device, placement, resume)
    phases["build"] = time.perf_counter() - clock
    trainer = config["trainer"]
    loss_fn = LOSSES[trainer["loss"]]
    capture = may_capture(config, placement)
    steps = SoloSteps(state, loss_fn, data.train, trainer["batch_size"], config["data"].get("crop"), capture)

    def epoch(number: int) -> dict[str, float]:
        stats = steps.epoch()
        return epoch_metrics(number, stats, state, loss_fn, data, trainer)

    if run_epochs(state, trainer["epochs"], epoch, report):
        final_image_report(state, loss_fn, data, trainer["test_batch_size"], phases, report)


def prepare_device(placement: Placement) -> torch.device:
    """torch's CPU threads and, on a GPU, deterministic kernels."""
    torch.set_num_threads(placement.threads)
    device = torch.device(placement.device)
    if device.type == "cuda":
        _deterministic_cuda()
    return device


def prepared_data(data: Mapping[str, Any], data_root: str | Path, device: torch.device, placement: Placement) -> InMemoryData:
    """The data set on the device, evaluation splits centre-cropped once, in the layout every batch uses."""
    return _prepared(load_data(data, data_root, device), data.get("crop"), placement)


def may_capture(config: Mapping[str, Any], placement: Placement) -> bool:
    """Whether a trial's steps may be captured as a CUDA graph: a layer list's with a capturable optimizer.
    A model from code runs eagerly: its forward pass may do what a graph cannot replay (sync with the host)."""
    return placement.capture and capturable(config["optim"]["name"]) and not is_target(config["model"])


def start_trial(
    config: Mapping[str, Any], data_root: str | Path, device: torch.device, placement: Placement, resume: Checkpoint | None
) -> TrialState:
    """The trial's seeded model, optimizer and generators (trainables/state.py); its dropout draws from its noise."""

    def model() -> torch.nn.Module:  # built by start(), once it has seeded torch
        built = model_of(config["model"], *data_shape(config["data"], data_root)).to(device)
        return built.to(memory_format=torch.channels_last) if placement.channels_last else built

    graph_safe = device.type == "cuda" and may_capture(config, placement)
    state = start(config, model, device, resume, capturable=graph_safe)
    for dropout in dropouts(state.model):
        dropout.generator = state.noise
    return state


def epoch_metrics(
    number: int, stats: EpochStats, state: TrialState, loss_fn: Loss, data: InMemoryData, trainer: Mapping[str, Any]
) -> dict[str, float]:
    """One epoch's metrics: its training pass (`stats`), the validation split, the threshold crossings."""
    started = time.perf_counter()
    val_loss, val_acc, _ = evaluate(state.model, loss_fn, data.val, trainer["test_batch_size"])
    seen_before = len(state.history) * len(data.train)
    metrics = {
        "epoch": float(number),
        "train_loss": stats.loss,
        "train_acc": stats.accuracy,
        "val_loss": val_loss,
        "val_acc": val_acc,
        "epoch_seconds": stats.seconds,  # the training pass alone; evaluation is eval_seconds
        "eval_seconds": time.perf_counter() - started,
        "examples_per_second": len(data.train) / stats.seconds,
        "examples_seen": float(seen_before + len(data.train)),
        "forward_ms_per_example": 1000.0 * stats.forward_seconds / len(data.train),
        "backward_ms_per_example": 1000.0 * stats.backward_seconds / len(data.train),
    }
    threshold = float(trainer["threshold"])
    crossing = first_crossing(stats.batch_sizes, stats.batch_correct, threshold, int(trainer["accuracy_window"]))
    _carry_crossings(metrics, state.history, threshold, crossing, seen_before)
    return metrics


def _deterministic_cuda() -> None:
    """Bit-for-bit repeatable GPU training, so a resumed trial equals an uninterrupted one.

    Measured on an H100 (fashion_cnn, batch 128): without this two identical runs already differed;
    with it runs and resumes matched exactly, at no measurable cost per epoch.
    """
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # cuBLAS' deterministic workspace
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    torch.use_deterministic_algorithms(True, warn_only=True)


def final_image_report(
    state: TrialState, loss_fn: Loss, data: InMemoryData, batch_size: int, phases: dict[str, float], report: Report
) -> None:
    """The last epoch's metrics plus the test set's and its confusion matrix (trainables/epochs.py)."""
    if not state.history:  # trainer.epochs = 0: the starting weights, evaluated as they are
        val_loss, val_acc, _ = evaluate(state.model, loss_fn, data.val, batch_size)
        state.history.append({"epoch": 0.0, "val_loss": val_loss, "val_acc": val_acc, "examples_seen": 0.0})
    started = time.perf_counter()
    test_loss, test_acc, predicted = evaluate(state.model, loss_fn, data.test, batch_size)
    phases["test"] = time.perf_counter() - started
    matrix = confusion_matrix(predicted, data.test.y, data.num_classes).tolist()
    final_report(state, report, phases, {"test_loss": test_loss, "test_acc": test_acc}, matrix)


def _carry_crossings(
    metrics: dict[str, float], history: list[dict[str, float]], threshold: float, crossing: int | None, seen_before: int
) -> None:
    """Examples seen until the windowed train accuracy, and the val accuracy, first reached `threshold`."""
    train_key, val_key = f"examples_to_train_acc_{threshold:g}", f"examples_to_val_acc_{threshold:g}"
    previous = history[-1] if history else {}
    if train_key in previous:
        metrics[train_key] = previous[train_key]
    elif crossing is not None:
        metrics[train_key] = float(seen_before + crossing)
    if val_key in previous:
        metrics[val_key] = previous[val_key]
    elif metrics["val_acc"] >= threshold:
        metrics[val_key] = metrics["examples_seen"]  # val accuracy is measured once per epoch


def _prepared(data: InMemoryData, crop: int | None, placement: Placement) -> InMemoryData:
    """Evaluation splits centre-cropped once; the layout every batch will use."""
    def convert(split: Split, cropped: bool) -> Split:
        x = center_crop(split.x, crop) if crop and cropped else split.x
        if placement.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return Split(x=x, y=split.y)

    return InMemoryData(
        train=convert(data.train, cropped=False),  # cropped at random, per example, per batch
        val=convert(data.val, cropped=True),
        test=convert(data.test, cropped=True),
        num_classes=data.num_classes,
        input_shape=data.input_shape,
        source=data.source,
    )


@torch.no_grad()
def evaluate(
    model: torch.nn.Module, loss_fn: Loss, split: Split, batch_size: int
) -> tuple[float, float, torch.Tensor]:
    """Mean loss and accuracy on `split` in eval mode, and every prediction (for the confusion matrix)."""
    model.eval()
    loss_sum = torch.zeros((), device=split.x.device)
    predictions = []
    for first in range(0, len(split), batch_size):
        inputs, targets = split.x[first : first + batch_size], split.y[first : first + batch_size]
        output = model(inputs)
        loss_sum += loss_fn(output, targets) * len(targets)
        predictions.append(output.argmax(1))
    predicted = torch.cat(predictions)
    accuracy = (predicted == split.y).float().mean().item()
    return loss_sum.item() / len(split), accuracy, predicted
