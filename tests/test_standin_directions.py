"""The offline stand-ins answer the course's questions in the directions the real data sets do.

Each test trains the exact trial configs `sweep run … offline=true` would (composed from conf/ by
`plan_study`), through `trainables.image.loop.train` on one thread as a trial does, seed 1: no Ray, no
MLflow. The study's own settings throughout (10 epochs; SYDE's CIFAR questions at
`trainer.epochs=1`, i.e. Q8/Q9's ×2 = 2 epochs, to keep its CNN to about half a minute). Runs are
shared between tests; the whole module took 2.5 minutes on the idle 2-core machine.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pytest
import torch

from sweeps.config.compose import Composer
from sweeps.plan.build import plan_study
from sweeps.plan.stages import stage_trial
from sweeps.trials import Plan, PlannedTrial
from trainables.callback import Checkpoint, EpochReport
from trainables.image.loop import train
from trainables.placement import Placement

pytestmark = pytest.mark.slow

JHU = "jhu_fashion"
OFFLINE = ["offline=true"]
SYDE_OVERRIDES = ["offline=true", "trainer.epochs=1"]  # Q8/Q9 train ×2 of the baseline's epochs: 2
CHANCE = 0.1  # ten balanced classes


class Trained:
    """val accuracy after every epoch (after 0 epochs: the starting weights) and the final weights."""

    def __init__(self, config: dict[str, Any], data_root: Path, resume: Checkpoint | None = None) -> None:
        reports: list[EpochReport] = []
        threads = torch.get_num_threads()
        try:
            train(config, data_root, reports.append, Placement(threads=1), resume)
        finally:
            torch.set_num_threads(threads)
        self.val_acc = [report.metrics["val_acc"] for report in reports]
        self.weights = reports[-1].checkpoint()["model"]

    @property
    def final(self) -> float:
        return self.val_acc[-1]


_RUNS: dict[str, Trained] = {}  # trial id → its run, shared by the tests of this module


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data")  # the stand-ins need no files


@functools.cache
def _plan(study: str, overrides: tuple[str, ...]) -> Plan:
    return plan_study(study, list(overrides))


def _variant_trial(plan: Plan, question: str, wanted: dict[str, Any]) -> PlannedTrial:
    """The (first) trial of `question`'s one variant whose overrides include `wanted`."""
    (asked,) = [q for q in plan.questions if q.id == question]
    (variant,) = [v for v in asked.variants if all(v.overrides.get(k) == x for k, x in wanted.items())]
    return plan.trial(variant.trial)


def _trained(study: str, overrides: list[str], question: str, data_root: Path, **wanted: Any) -> Trained:
    """The run of `question`'s one variant whose overrides include `wanted` (dots written as __)."""
    trial = _variant_trial(_plan(study, tuple(overrides)), question, {k.replace("__", "."): v for k, v in wanted.items()})
    if trial.id not in _RUNS:
        _RUNS[trial.id] = Trained(trial.config, data_root)
    return _RUNS[trial.id]


def _jhu(question: str, data_root: Path, **wanted: Any) -> Trained:
    return _trained(JHU, OFFLINE, question, data_root, **wanted)


def test_baseline_learns_the_mnist_standin(data_root: Path) -> None:
    assert _jhu("q01", data_root, data="mnist").final >= 0.90  # measured: 0.92


def test_fashion_standin_is_harder_than_the_mnist_standin(data_root: Path) -> None:
    fashion = _jhu("q01", data_root, data="fashion_mnist").final  # measured: 0.77
    assert 0.65 <= fashion < _jhu("q01", data_root, data="mnist").final


def test_q03_the_smallest_learning_rate_learns_slowest(data_root: Path) -> None:
    runs = {lr: _jhu("q03", data_root, optim__lr=lr) for lr in (0.001, 0.01, 0.1)}  # measured: 0.17, 0.77, 0.91
    assert runs[0.001].final < min(runs[0.01].final, runs[0.1].final) - 0.3
    assert all(runs[0.001].val_acc[epoch] < runs[0.01].val_acc[epoch] for epoch in range(1, 10))


def test_q05_dropout_one_stays_at_chance_while_zero_and_half_learn(data_root: Path) -> None:
    runs = {p: _jhu("q05", data_root, model__dropout=p) for p in (0.0, 0.5, 1.0)}  # measured: 0.78, 0.77, 0.10
    assert runs[1.0].final == pytest.approx(CHANCE, abs=0.02)
    assert min(runs[0.0].final, runs[0.5].final) > 0.65


def test_q06_the_largest_batch_ends_lowest_at_equal_epochs(data_root: Path) -> None:
    runs = {size: _jhu("q06", data_root, trainer__batch_size=size) for size in (32, 256, 2048)}  # 0.91, 0.77, 0.24
    assert runs[2048].final < min(runs[32].final, runs[256].final) - 0.3


def test_q07_double_width_is_not_worse_than_half_width(data_root: Path) -> None:
    runs = {width: _jhu("q07", data_root, model__width=width) for width in (0.5, 2.0)}  # measured: 0.68, 0.83
    assert runs[2.0].final >= runs[0.5].final


def test_q14_evaluating_the_fashion_model_on_mnist_is_far_below_fine_tuning_it(data_root: Path) -> None:
    """Q14 and Q15 as stages build them, from Q1's Fashion-MNIST trial (standing in for Q13's best).

    Both start from that trial's final weights (resume={"model": …}, as a stage's trial does).
    """
    plan = _plan(JHU, tuple(OFFLINE))
    source = _variant_trial(plan, "q01", {"data": "fashion_mnist"})
    weights = _jhu("q01", data_root, data="fashion_mnist").weights
    composer = Composer(JHU, OFFLINE)
    stages = {q.id: q for q in plan.questions if q.id in ("q14", "q15")}
    accuracy = {}
    for qid, question in stages.items():
        (written,) = question.config.variants
        config = stage_trial(source.config, written, composer, plan, source.id, question.config.train, qid)
        accuracy[qid] = Trained(config.model_dump(mode="json"), data_root, resume={"model": weights}).final
    assert accuracy["q14"] < CHANCE + 0.05  # measured: 0.04
    assert accuracy["q15"] > accuracy["q14"] + 0.08  # measured: 0.15 after 625 steps at lr 0.0001


def test_syde_cnn_beats_the_mlp_on_the_cifar_standin(data_root: Path) -> None:
    mlp = _trained("syde522", SYDE_OVERRIDES, "q08", data_root, model__hidden=32)  # measured: 0.10
    cnn = _trained("syde522", SYDE_OVERRIDES, "q09", data_root)  # measured: 0.37
    assert cnn.final > mlp.final + 0.15
