"""The training loop of an image-classification trial: pure PyTorch, reports through one callback.

The data set sits in memory as one normalised tensor on the trial's device and is sliced per batch.
After every epoch the loop calls `report` with that epoch's metrics and a way to take a checkpoint;
`train(..., resume=state)` continues from such a checkpoint exactly as if it had never stopped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from trainables.data import InMemoryData, Split, load_data
from trainables.losses import LOSSES, Loss
from trainables.metrics import confusion_matrix
from trainables.model import build_model
from trainables.optim import build_optimizer

Checkpoint = dict[str, Any]


@dataclass(frozen=True)
class EpochReport:
    epoch: int  # epochs completed, from 1
    metrics: dict[str, float]
    checkpoint: Callable[[], Checkpoint]  # state that resumes after this epoch; taken only when called
    confusion_matrix: list[list[int]] | None  # test set, rows = true class; after the last epoch only


Report = Callable[[EpochReport], None]


@dataclass(frozen=True)
class Placement:
    """Where a trial computes; none of it changes the result beyond floating-point order."""

    device: str = "cpu"
    threads: int = 1  # torch intra-op threads: the CPUs the trial was given
    channels_last: bool = True  # NHWC tensors and weights (faster convolutions on CPU)


def train(
    config: Mapping[str, Any],
    data_root: str | Path,
    report: Report,
    placement: Placement = Placement(),
    resume: Checkpoint | None = None,
) -> None:
    """Train `config` (a validated trial config as plain data) for `config.trainer.epochs` epochs."""
    torch.set_num_threads(placement.threads)
    device = torch.device(placement.device)
    data = load_data(config["data"], data_root, device)
    torch.manual_seed(config["seed"])
    model = build_model(config["model"], data.input_shape, data.num_classes).to(device)
    layout = torch.channels_last if placement.channels_last and len(data.input_shape) == 3 else None
    if layout is not None:
        model = model.to(memory_format=layout)
        data = _with_layout(data, layout)
    optimizer = build_optimizer(model.parameters(), config["optim"])
    shuffle = torch.Generator().manual_seed(config["seed"])
    history: list[dict[str, float]] = []
    if resume is not None:
        model.load_state_dict(resume["model"])
        optimizer.load_state_dict(resume["optimizer"])
        torch.set_rng_state(resume["torch_rng"])
        if device.type == "cuda":
            torch.cuda.set_rng_state(resume["cuda_rng"], device)
        shuffle.set_state(resume["shuffle_rng"])
        history = list(resume["history"])

    trainer = config["trainer"]
    loss_fn = LOSSES[trainer["loss"]]
    epochs = trainer["epochs"]
    if history and len(history) >= epochs:  # trained to the end, but stopped before the last report
        predicted = _evaluate(model, loss_fn, data.test, trainer["test_batch_size"])[2]
        checkpoint = _checkpointer(model, optimizer, shuffle, history, device)
        report(EpochReport(len(history), history[-1], checkpoint, _confusion(predicted, data)))
        return
    for epoch in range(len(history) + 1, epochs + 1):
        started = time.perf_counter()
        train_loss, train_acc = _train_epoch(model, optimizer, loss_fn, data.train, trainer["batch_size"], shuffle)
        _synchronize(device)
        train_seconds = time.perf_counter() - started
        started = time.perf_counter()
        val_loss, val_acc, predicted = _evaluate(model, loss_fn, data.test, trainer["test_batch_size"])
        eval_seconds = time.perf_counter() - started
        metrics = {
            "epoch": float(epoch),
            "train_loss": train_loss,
            "train_acc": train_acc,
            "val_loss": val_loss,
            "val_acc": val_acc,
            "epoch_seconds": train_seconds,  # the training pass alone; evaluation is eval_seconds
            "eval_seconds": eval_seconds,
            "examples_per_second": len(data.train) / train_seconds,
        }
        history.append(metrics)
        last = epoch == epochs
        report(
            EpochReport(
                epoch=epoch,
                metrics=metrics,
                checkpoint=_checkpointer(model, optimizer, shuffle, history, device),
                confusion_matrix=_confusion(predicted, data) if last else None,
            )
        )


def _with_layout(data: InMemoryData, layout: torch.memory_format) -> InMemoryData:
    def convert(split: Split) -> Split:
        return Split(x=split.x.contiguous(memory_format=layout), y=split.y)

    return InMemoryData(
        train=convert(data.train),
        test=convert(data.test),
        num_classes=data.num_classes,
        input_shape=data.input_shape,
        source=data.source,
    )


def _train_epoch(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: Loss,
    split: Split,
    batch_size: int,
    shuffle: torch.Generator,
) -> tuple[float, float]:
    """One pass in a fresh random order; returns the mean loss and accuracy over the pass."""
    model.train()
    count = len(split)
    order = torch.randperm(count, generator=shuffle).to(split.x.device)
    # Sums stay on the device: one synchronisation per epoch, not per batch.
    loss_sum = torch.zeros((), device=split.x.device)
    correct = torch.zeros((), dtype=torch.int64, device=split.x.device)
    for start in range(0, count, batch_size):
        index = order[start : start + batch_size]
        inputs, targets = split.x[index], split.y[index]
        optimizer.zero_grad(set_to_none=True)
        output = model(inputs)
        loss = loss_fn(output, targets)
        loss.backward()
        optimizer.step()
        loss_sum += loss.detach() * len(index)
        correct += (output.detach().argmax(1) == targets).sum()
    return loss_sum.item() / count, correct.item() / count


@torch.no_grad()
def _evaluate(
    model: torch.nn.Module, loss_fn: Loss, split: Split, batch_size: int
) -> tuple[float, float, torch.Tensor]:
    """Mean loss and accuracy on `split` in eval mode, and every prediction (for the confusion matrix)."""
    model.eval()
    loss_sum = torch.zeros((), device=split.x.device)
    predictions = []
    for start in range(0, len(split), batch_size):
        inputs, targets = split.x[start : start + batch_size], split.y[start : start + batch_size]
        output = model(inputs)
        loss_sum += loss_fn(output, targets) * len(targets)
        predictions.append(output.argmax(1))
    predicted = torch.cat(predictions)
    accuracy = (predicted == split.y).float().mean().item()
    return loss_sum.item() / len(split), accuracy, predicted


def _confusion(predicted: torch.Tensor, data: InMemoryData) -> list[list[int]]:
    return confusion_matrix(predicted, data.test.y, data.num_classes).tolist()


def _checkpointer(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    shuffle: torch.Generator,
    history: list[dict[str, float]],
    device: torch.device,
) -> Callable[[], Checkpoint]:
    def take() -> Checkpoint:
        cuda = {"cuda_rng": torch.cuda.get_rng_state(device)} if device.type == "cuda" else {}
        return cuda | {
            "model": {name: tensor.detach().cpu().clone() for name, tensor in model.state_dict().items()},
            "optimizer": optimizer.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "shuffle_rng": shuffle.get_state(),
            "history": [dict(metrics) for metrics in history],
        }

    return take


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
