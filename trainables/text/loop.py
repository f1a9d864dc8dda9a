"""The training loop of a text-classification trial (kinds.Train), on the shared epoch scaffold (epochs.py).

One `report` call per epoch with that epoch's metrics and a way to take a checkpoint;
`train(..., resume=state)` continues exactly as if it had never stopped. The features stay a scipy
CSR matrix; each batch's rows become a `SparseBatch` of their non-zeros only. The last report adds
the test split's metrics (when data.test_split > 0) and the phase timings.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from trainables.callback import Checkpoint, Report
from trainables.epochs import final_report, run_epochs
from trainables.placement import Placement
from trainables.state import TrialState, start
from trainables.text.corpus import CorpusSplits, split_corpus
from trainables.text.features import build_features
from trainables.text.metrics import auc_metrics, labelwise_accuracy
from trainables.text.models import build_model, sparse_batch
from trainables.text.source import load_corpus


@dataclass(frozen=True)
class LabelledRows:
    features: sp.csr_matrix  # (rows, width) TF-IDF
    labels: np.ndarray  # float32 (rows, labels), 0 or 1

    def __len__(self) -> int:
        return int(self.labels.shape[0])


@dataclass(frozen=True)
class TextData:
    train: LabelledRows
    val: LabelledRows
    test: LabelledRows | None  # None without a test split
    label_names: tuple[str, ...]
    width: int


def train(
    config: Mapping[str, Any],
    data_root: str | Path,
    report: Report,
    placement: Placement = Placement(),
    resume: Checkpoint | None = None,
) -> None:
    """Train `config` (a validated text trial config as plain data) for `config.trainer.epochs` epochs."""
    clock = time.perf_counter()
    data_config = config["data"]
    splits = split_corpus(load_corpus(data_config, data_root), data_config["validation_split"], data_config["test_split"])
    # Reading (or generating) and checking every row is the data_load phase.
    train_on_corpus(config, splits, report, placement, resume, data_load_seconds=time.perf_counter() - clock)


def train_on_corpus(
    config: Mapping[str, Any],
    splits: CorpusSplits,
    report: Report,
    placement: Placement = Placement(),
    resume: Checkpoint | None = None,
    data_load_seconds: float = 0.0,
) -> None:
    """`train` from a corpus already in memory: TF-IDF features, the model, the epochs."""
    torch.set_num_threads(placement.threads)
    device = torch.device(placement.device)
    phases = {"data_load": data_load_seconds}
    clock = time.perf_counter()
    data = _featurised(config["data"]["features"], splits)
    phases["features"] = time.perf_counter() - clock  # fitting TF-IDF on the train rows, applying it to all

    clock = time.perf_counter()
    state = start(config, lambda: build_model(config["model"], data.width, len(data.label_names)).to(device), device, resume)
    phases["build"] = time.perf_counter() - clock

    trainer = config["trainer"]

    def epoch(number: int) -> dict[str, float]:
        loss, accuracy, seconds = _train_epoch(state, data.train, trainer["batch_size"])
        started = time.perf_counter()
        val = _evaluate(state.model, data.val, data.label_names, trainer["test_batch_size"], device, "val")
        return {
            "epoch": float(number),
            "train_loss": loss,
            "train_acc": accuracy,
            **val,
            "epoch_seconds": seconds,  # the training pass alone; evaluation is eval_seconds
            "eval_seconds": time.perf_counter() - started,
            "examples_per_second": len(data.train) / seconds,
            "examples_seen": float(number * len(data.train)),
        }

    if not run_epochs(state, trainer["epochs"], epoch, report):
        return  # diverged: reported, nothing to test
    test: dict[str, float] = {}
    if data.test is not None:  # no test split, no test metrics and no test phase
        started = time.perf_counter()
        test = _evaluate(state.model, data.test, data.label_names, trainer["test_batch_size"], device, "test")
        phases["test"] = time.perf_counter() - started
    final_report(state, report, phases, test)  # multi-label: no confusion matrix


def _featurised(cfg: Mapping[str, Any], splits: CorpusSplits) -> TextData:
    test = splits.test
    features = build_features(cfg, splits.train.texts, splits.val.texts, test.texts if test is not None else None)
    return TextData(
        train=LabelledRows(features.train, splits.train.labels),
        val=LabelledRows(features.val, splits.val.labels),
        test=LabelledRows(features.test, test.labels) if test is not None and features.test is not None else None,
        label_names=splits.train.label_names,
        width=features.width,
    )


def _train_epoch(state: TrialState, rows: LabelledRows, batch_size: int) -> tuple[float, float, float]:
    """One pass in a fresh random order: mean loss, label-wise accuracy at 0.5, seconds."""
    model, optimizer, device = state.model, state.optimizer, state.device
    model.train()
    started = time.perf_counter()
    order = torch.randperm(len(rows), generator=state.shuffle).numpy()
    # Sums stay on the device: one synchronisation per epoch, not per batch.
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    for first in range(0, len(rows), batch_size):
        index = order[first : first + batch_size]
        batch = sparse_batch(rows.features[index], device)  # only these rows' non-zeros
        targets = torch.from_numpy(rows.labels[index]).to(device)
        optimizer.zero_grad(set_to_none=True)
        logits = model(batch)
        loss = F.binary_cross_entropy_with_logits(logits, targets)
        loss.backward()
        optimizer.step()
        loss_sum += loss.detach() * len(index)
        correct += ((logits.detach() > 0) == (targets > 0.5)).sum()
    loss_mean = loss_sum.item() / len(rows)
    accuracy = correct.item() / rows.labels.size
    return loss_mean, accuracy, time.perf_counter() - started


@torch.no_grad()
def _evaluate(
    model: torch.nn.Module, rows: LabelledRows, names: tuple[str, ...], batch_size: int, device: torch.device, prefix: str
) -> dict[str, float]:
    """`{prefix}_loss`, `{prefix}_acc` (label-wise at 0.5), `{prefix}_auc` and each label's AUC, in eval mode."""
    model.eval()
    loss_sum = torch.zeros((), device=device)
    outputs = []
    for first in range(0, len(rows), batch_size):
        stop = min(first + batch_size, len(rows))
        logits = model(sparse_batch(rows.features[first:stop], device))
        loss_sum += F.binary_cross_entropy_with_logits(logits, torch.from_numpy(rows.labels[first:stop]).to(device)) * (stop - first)
        outputs.append(logits)
    scores = torch.cat(outputs).cpu().numpy()  # (rows, labels): a few floats per row
    return {
        f"{prefix}_loss": loss_sum.item() / len(rows),
        f"{prefix}_acc": labelwise_accuracy(scores, rows.labels),
        **auc_metrics(prefix, scores, rows.labels, names),
    }
