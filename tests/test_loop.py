"""Tests for the image trainable: trainables.image.loop.train on scikit-learn's small digits set (360 test
images), plus trainables.optim.build_optimizer and trainables.image.metrics.confusion_matrix.

Configs come from the planner (offline=true, data=digits, 3 epochs, batch 64), so they are what a trial really gets.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import pytest
import torch
from helpers.epoch_reports import Run, Stop, results
from omegaconf import OmegaConf

from sweeps.config.sources import CONF_DIR
from sweeps.plan.build import plan_study
from trainables.callback import Checkpoint, EpochReport
from trainables.image.loop import train
from trainables.image.metrics import confusion_matrix
from trainables.optim import OPTIMIZERS, build_optimizer
from trainables.placement import Placement

EPOCHS = 3
TEST_SIZE = 360  # digits' test split
METRICS = ("train_loss", "train_acc", "val_loss", "val_acc", "epoch_seconds", "examples_per_second")

pytestmark = pytest.mark.usefixtures("torch_threads")  # train() sets torch's thread count


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    overrides = ["offline=true", "data=digits", f"trainer.epochs={EPOCHS}", "trainer.batch_size=64"]
    plan = plan_study("jhu_fashion", overrides, questions=["q04"])
    (sgd,) = [t.config for t in plan.trials if t.config["optim"]["name"] == "sgd"]  # the baseline
    assert sgd["data"]["source"] == "digits"
    return sgd


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data")


def run(
    config: dict[str, Any], data_root: Path, placement: Placement | None = None, resume: Checkpoint | None = None
) -> Run:
    recorder = Run()
    train(config, data_root, recorder, placement or Placement(), resume=resume)
    return recorder


def same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    assert a.keys() == b.keys()
    return all(torch.equal(a[name], b[name]) for name in a)


_RUNS: dict[tuple[Any, ...], Run] = {}


def uninterrupted(config: dict[str, Any], data_root: Path, channels_last: bool = True) -> Run:
    """One uninterrupted run per layout, shared by the tests of this module."""
    key = (id(config), channels_last)
    if key not in _RUNS:
        _RUNS[key] = run(config, data_root, Placement(channels_last=channels_last))
    return _RUNS[key]


# --- reports -------------------------------------------------------------------------------------


def test_reports_every_epoch_with_finite_metrics(config: dict[str, Any], data_root: Path) -> None:
    full = uninterrupted(config, data_root)
    assert full.epochs == [1, 2, 3]
    for report in full.reports:
        for key in METRICS:
            value = report.metrics[key]
            assert isinstance(value, float) and math.isfinite(value), (report.epoch, key, value)
        assert report.metrics["epoch"] == report.epoch
        assert 0.0 <= report.metrics["train_acc"] <= 1.0
        assert 0.0 <= report.metrics["val_acc"] <= 1.0
        assert report.metrics["train_loss"] > 0 and report.metrics["val_loss"] > 0
        assert report.metrics["epoch_seconds"] > 0 and report.metrics["examples_per_second"] > 0
    assert [r.confusion_matrix is None for r in full.reports] == [True, True, False]
    assert full.reports[-1].metrics["train_loss"] < full.reports[0].metrics["train_loss"]  # it learns


def test_final_confusion_matrix_matches_val_acc(config: dict[str, Any], data_root: Path) -> None:
    final = uninterrupted(config, data_root).reports[-1]
    matrix = final.confusion_matrix
    assert matrix is not None
    assert len(matrix) == 10 and all(len(row) == 10 for row in matrix)
    assert all(isinstance(count, int) and count >= 0 for row in matrix for count in row)
    total = sum(map(sum, matrix))
    assert total == TEST_SIZE
    diagonal = sum(matrix[i][i] for i in range(10))
    assert diagonal / total == pytest.approx(final.metrics["val_acc"], abs=1e-6)
    assert all(sum(row) > 0 for row in matrix)  # every digit class is in the test split


def test_checkpoint_history_and_independence(config: dict[str, Any], data_root: Path) -> None:
    full = uninterrupted(config, data_root)
    assert [len(c["history"]) for c in full.checkpoints] == [1, 2, 3]
    history = full.checkpoints[-1]["history"]
    assert [h["epoch"] for h in history] == [1.0, 2.0, 3.0]
    for recorded, report in zip(history, full.reports, strict=True):
        assert recorded.items() <= report.metrics.items()  # the report may add keys (test set, timings)
    # Each checkpoint is a copy: epoch 1's weights did not follow the training that came after.
    assert not same_weights(full.checkpoints[0]["model"], full.weights)


# --- determinism and resume ----------------------------------------------------------------------


def test_same_seed_reproduces_exactly(config: dict[str, Any], data_root: Path) -> None:
    first = uninterrupted(config, data_root)
    second = run(config, data_root)
    assert [results(r) for r in second.reports] == [results(r) for r in first.reports]
    assert second.reports[-1].confusion_matrix == first.reports[-1].confusion_matrix
    assert same_weights(second.weights, first.weights)


def test_other_seed_differs(config: dict[str, Any], data_root: Path) -> None:
    other = copy.deepcopy(config)
    other["seed"] = config["seed"] + 1
    first = uninterrupted(config, data_root)
    second = run(other, data_root)
    assert not same_weights(second.weights, first.weights)
    assert results(second.reports[0]) != results(first.reports[0])


@pytest.mark.parametrize("channels_last", [False, True], ids=["nchw", "channels_last"])
def test_resume_after_interruption_equals_uninterrupted(
    config: dict[str, Any], data_root: Path, channels_last: bool
) -> None:
    full = uninterrupted(config, data_root, channels_last)
    placement = Placement(channels_last=channels_last)
    kept: list[Checkpoint] = []

    def interrupted(report: EpochReport) -> None:
        kept.append(report.checkpoint())
        raise Stop

    with pytest.raises(Stop):
        train(config, data_root, interrupted, placement)
    assert len(kept) == 1 and len(kept[0]["history"]) == 1

    resumed = run(config, data_root, placement, resume=kept[0])
    assert resumed.epochs == [2, 3]
    assert [results(r) for r in resumed.reports] == [results(r) for r in full.reports[1:]]
    assert resumed.reports[-1].confusion_matrix == full.reports[-1].confusion_matrix
    assert same_weights(resumed.weights, full.weights)
    assert resumed.checkpoints[-1]["history"][0] == kept[0]["history"][0]  # epoch 1 carried over


def test_resume_from_a_finished_checkpoint_only_reports(config: dict[str, Any], data_root: Path) -> None:
    full = uninterrupted(config, data_root)
    again = run(config, data_root, resume=full.checkpoints[-1])
    assert again.epochs == [EPOCHS]
    (report,) = again.reports
    assert results(report) == results(full.reports[-1])  # the recorded epoch, not a new one
    assert report.metrics["epoch_seconds"] == full.reports[-1].metrics["epoch_seconds"]  # not re-timed
    assert report.confusion_matrix == full.reports[-1].confusion_matrix
    assert same_weights(again.weights, full.weights)  # no further training


def test_no_epochs_evaluates_the_starting_weights_once(config: dict[str, Any], data_root: Path) -> None:
    """trainer.epochs = 0 (a stage with train: false): one report, epoch 0, val and test metrics, no training."""
    untrained = run(copy.deepcopy(config) | {"trainer": config["trainer"] | {"epochs": 0}}, data_root)
    (report,) = untrained.reports
    assert report.epoch == 0
    assert {"val_loss", "val_acc", "test_loss", "test_acc", "phase_train_seconds"} <= report.metrics.keys()
    assert "train_loss" not in report.metrics and report.metrics["phase_train_seconds"] == 0.0
    assert sum(map(sum, report.confusion_matrix or [])) == TEST_SIZE


# --- placement, losses ----------------------------------------------------------------------------


@pytest.mark.parametrize("threads", [1, 2])
def test_threads_inside_the_trial(config: dict[str, Any], data_root: Path, threads: int) -> None:
    one_epoch = copy.deepcopy(config)
    one_epoch["trainer"]["epochs"] = 1
    # A linear model: this test is about the thread count, not the (slow, under load) convolutions.
    one_epoch["model"]["layers"] = [{"type": "flatten"}, {"type": "dense", "units": "classes", "activation": "log_softmax"}]
    seen: list[int] = []
    torch.set_num_threads(3 - threads)  # something else before the trial starts
    train(one_epoch, data_root, lambda report: seen.append(torch.get_num_threads()), Placement(threads=threads))
    assert seen == [threads]


@pytest.mark.parametrize(("loss", "first_val_loss_range"), [("mse", (0.0, 0.5)), ("cross_entropy", (1.0, 3.0))])
def test_other_losses_train(
    config: dict[str, Any], data_root: Path, loss: str, first_val_loss_range: tuple[float, float]
) -> None:
    logits = copy.deepcopy(config)
    logits["trainer"]["loss"] = loss
    last = logits["model"]["layers"][-1]
    assert last == {"type": "dense", "units": "classes", "activation": "log_softmax"}
    logits["model"]["layers"][-1] = {"type": "dense", "units": "classes"}  # raw outputs
    trained = run(logits, data_root)
    assert trained.epochs == [1, 2, 3]
    for report in trained.reports:
        assert all(math.isfinite(report.metrics[key]) for key in METRICS)
    low, high = first_val_loss_range  # MSE against one-hot is ~0.1; cross-entropy starts near ln 10
    assert low < trained.reports[0].metrics["val_loss"] < high
    assert trained.reports[-1].metrics["train_loss"] < trained.reports[0].metrics["train_loss"]
    assert sum(map(sum, trained.reports[-1].confusion_matrix)) == TEST_SIZE


# --- optimizers and the confusion matrix ----------------------------------------------------------


def test_every_optimizer_has_a_config() -> None:
    assert sorted(p.stem for p in (CONF_DIR / "optim").glob("*.yaml")) == sorted(OPTIMIZERS)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_build_optimizer_applies_the_yaml(name: str) -> None:
    cfg = OmegaConf.to_container(OmegaConf.load(CONF_DIR / "optim" / f"{name}.yaml"))
    assert cfg["name"] == name
    weight = torch.nn.Parameter(torch.zeros(3))
    optimizer = build_optimizer([weight], cfg)
    assert type(optimizer) is OPTIMIZERS[name]
    group = optimizer.param_groups[0]
    assert group["params"] == [weight]
    for key, value in cfg.items():
        if key != "name":
            assert group[key] == (tuple(value) if isinstance(value, list) else value), key


def test_build_optimizer_adam_betas_and_sgd_momentum() -> None:
    weight = torch.nn.Parameter(torch.zeros(3))
    adam = build_optimizer([weight], {"name": "adam", "lr": 0.002, "betas": [0.8, 0.9]})
    assert adam.param_groups[0]["betas"] == (0.8, 0.9)
    assert isinstance(adam.param_groups[0]["betas"], tuple)
    assert adam.param_groups[0]["lr"] == 0.002
    sgd_cfg = OmegaConf.to_container(OmegaConf.load(CONF_DIR / "optim" / "sgd.yaml"))
    sgd = build_optimizer([weight], sgd_cfg)
    assert (sgd.param_groups[0]["lr"], sgd.param_groups[0]["momentum"]) == (0.01, 0.5)


def test_build_optimizer_from_a_planned_trial(config: dict[str, Any]) -> None:
    weight = torch.nn.Parameter(torch.zeros(3))
    optimizer = build_optimizer([weight], config["optim"])
    assert isinstance(optimizer, torch.optim.SGD)
    assert (optimizer.param_groups[0]["lr"], optimizer.param_groups[0]["momentum"]) == (0.01, 0.5)


def test_confusion_matrix_by_hand() -> None:
    predicted = torch.tensor([0, 1, 1, 2, 2, 2, 0])
    target = torch.tensor([0, 1, 2, 2, 2, 0, 0])
    matrix = confusion_matrix(predicted, target, num_classes=4)
    assert matrix.tolist() == [
        [2, 0, 1, 0],  # true 0: predicted 0 twice, 2 once
        [0, 1, 0, 0],
        [0, 1, 2, 0],
        [0, 0, 0, 0],  # class 3 never seen: a zero row and column, the shape stays 4×4
    ]
    assert matrix.dtype == torch.int64


def test_confusion_matrix_rows_are_true_classes() -> None:
    matrix = confusion_matrix(torch.tensor([1]), torch.tensor([0]), num_classes=2)
    assert matrix.tolist() == [[0, 1], [0, 0]]
