"""A diverging trial (issue 12, item 3): both kinds' loops stop at the first epoch whose training loss is
not finite, report that epoch as diverged and send no final report; resumed from that state, they report
it again rather than train on NaN weights."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from test_loop import Run
from test_text import trial

from sweeps.plan import plan_study
from trainables.kinds import kind
from trainables.placement import Placement

EPOCHS = 3


def _image() -> dict[str, Any]:
    """Plain SGD at lr 10 000 on the digits: the loss overflows within an epoch or two."""
    overrides = ["offline=true", f"trainer.epochs={EPOCHS}", "trainer.batch_size=64", "optim.lr=10000.0"]
    (digits,) = [t.config for t in plan_study("jhu_fashion", overrides, questions=["q01"]).trials if t.config["data"]["source"] == "digits"]
    return digits


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
