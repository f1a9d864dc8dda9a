"""A diverging trial: both kinds' loops stop at the first epoch whose training loss is
not finite, report that epoch as diverged and send no final report; resumed from that state, they report
it again rather than train on NaN weights."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from test_loop import Run
from test_text import trial

from sweeps.plan.build import plan_study
from trainables.kinds import kind
from trainables.placement import Placement

EPOCHS = 3


def _image() -> dict[str, Any]:
    """Plain SGD at lr 10 000 (the baseline of the study's first question, offline): the loss overflows within an epoch or two."""
    overrides = ["offline=true", f"trainer.epochs={EPOCHS}", "trainer.batch_size=64", "optim.lr=10000.0"]
    return plan_study("jhu_fashion", overrides, questions=["q01"]).trials[0].config


def _text() -> dict[str, Any]:
    """Adam at lr 1e30 on the comment sample."""
    config = trial("mlp")
    config["trainer"]["epochs"] = EPOCHS
    config["optim"]["lr"] = 1e30
    return config


def _train(config: dict[str, Any], data_root: Path, resume: Any = None) -> Run:
    reports = Run()
    kind(config["trainable"]).train(config, data_root, reports, Placement(), resume)
    return reports


@pytest.mark.parametrize("config", [_image, _text], ids=["image", "text"])
def test_a_non_finite_loss_ends_the_trial_as_diverged(config: Any, tmp_path: Path) -> None:
    trial_config = config()
    reports = _train(trial_config, tmp_path).reports
    *before, last = reports
    assert last.diverged and not math.isfinite(last.metrics["train_loss"])
    assert [report.epoch for report in reports] == list(range(1, last.epoch + 1)) and last.epoch <= EPOCHS
    assert all(not report.diverged and math.isfinite(report.metrics["train_loss"]) for report in before)
    assert last.confusion_matrix is None and not any(key.startswith(("test_", "phase_")) for key in last.metrics)

    (again,) = _train(trial_config, tmp_path, resume=last.checkpoint()).reports
    assert again.diverged and again.epoch == last.epoch


def test_a_diverging_member_leaves_its_pack_and_the_others_train_on(tmp_path: Path) -> None:
    """q03 at a baseline lr of 1.0 as one fused pack: lr 10 diverges, lr 0.1 and 1.0 go on to their final reports."""
    from trainables.image.pack import train_pack

    overrides = ["offline=true", f"trainer.epochs={EPOCHS}", "optim.lr=1.0"]
    configs = [trial.config for trial in plan_study("jhu_fashion", overrides, questions=["q03"]).trials]
    runs = [Run() for _ in configs]
    train_pack(configs, tmp_path, runs, Placement())
    by_lr = {config["optim"]["lr"]: run.reports for config, run in zip(configs, runs, strict=True)}
    assert sorted(by_lr) == [0.1, 1.0, 10.0]
    *before, last = by_lr.pop(10.0)
    assert last.diverged and not math.isfinite(last.metrics["train_loss"]) and last.confusion_matrix is None
    assert all(not report.diverged for report in before)
    for reports in by_lr.values():
        assert [report.epoch for report in reports] == list(range(1, EPOCHS + 1))
        assert not any(report.diverged for report in reports) and reports[-1].confusion_matrix is not None
