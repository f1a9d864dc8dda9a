"""A fused pack trains each member exactly as the member would train alone (the packs' equivalence).

Members differ in optimizer (every one of conf/optim/), learning rate, dropout, seed and epochs; each
member's per-epoch metrics, final test metrics and final weights must equal its solo run's within
1e-5 relative (only floating-point order differs: a vmapped step groups the members' convolutions),
and a pack killed mid-epoch resumes every member from its own last checkpoint to the same end.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from omegaconf import OmegaConf

from sweeps.config.sources import CONF_DIR, Configs
from sweeps.plan.packs import form_packs
from sweeps.trials import PlannedTrial
from trainables.callback import Checkpoint, EpochReport
from trainables.image import pack
from trainables.image.kind import pack_key
from trainables.image.loop import train
from trainables.image.pack import train_pack
from trainables.placement import Placement

pytestmark = pytest.mark.slow  # about a minute of training on 2 idle cores

RELATIVE = 1e-5  # the bound on a member's metrics against its solo run's
# ‖Δw‖ / ‖w‖ per weight tensor. Float order alone moves adaptive optimizers' weights by ~1e-5..1e-4 in a
# few epochs (an update divides by the root of tiny squared gradients): the same trial alone in its two
# memory layouts differs by that much (test_the_weight_bound_is_what_float_order_alone_moves).
WEIGHTS_RELATIVE = 1e-4
COMPARED = ("train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc")
PLACEMENT = Placement(threads=2, channels_last=False)  # a pack computes in NCHW: compare in the same layout


def trial_config(**changes: Any) -> dict[str, Any]:
    """The JHU baseline on the small bundled digits, batch 128, two epochs; `changes` by dotted key."""
    root = OmegaConf.create(
        {
            "trainable": "image",
            "seed": 1,
            "data": OmegaConf.merge(OmegaConf.load(CONF_DIR / "data" / "_common.yaml"), OmegaConf.load(CONF_DIR / "data" / "digits.yaml")),
            "model": OmegaConf.load(CONF_DIR / "model" / "jhu_baseline.yaml"),
            "optim": OmegaConf.load(CONF_DIR / "optim" / "sgd.yaml"),
            "trainer": OmegaConf.load(CONF_DIR / "trainer" / "default.yaml"),
        }
    )
    root.data.pop("defaults", None)
    root.trainer.batch_size, root.trainer.epochs = 128, 2
    for key, value in changes.items():
        if key == "optim":
            root.optim = OmegaConf.load(CONF_DIR / "optim" / f"{value}.yaml")
        else:
            OmegaConf.update(root, key, value)
    config = OmegaConf.to_container(root, resolve=True)
    assert isinstance(config, dict)
    return config


MEMBERS = [  # one per optimizer, with dropout, seeds, learning rates and epochs that differ
    trial_config(),
    trial_config(optim="adam", seed=2, **{"model.dropout": 0.0}),
    trial_config(optim="rmsprop", seed=3, **{"model.dropout": 0.25, "trainer.epochs": 3}),
    trial_config(optim="adadelta", seed=4, **{"model.dropout": 1.0}),
    trial_config(optim="adagrad", seed=5, **{"optim.lr": 0.05}),
    trial_config(seed=6, **{"optim.lr": 0.1, "trainer.epochs": 1}),
]


class Recorded:
    """A report callback that keeps every report (and, once asked, stops the pack like a kill)."""

    def __init__(self, kill_after: int | None = None) -> None:
        self.reports: list[EpochReport] = []
        self.checkpoint: Checkpoint | None = None
        self._kill_after = kill_after

    def __call__(self, report: EpochReport) -> None:
        self.reports.append(report)
        self.checkpoint = report.checkpoint()  # what the worker saves before reporting
        if self._kill_after is not None and report.epoch >= self._kill_after:
            raise KeyboardInterrupt  # as a killed worker: nothing after this runs


def solo(config: dict[str, Any]) -> Recorded:
    recorded = Recorded()
    train(config, "data", recorded, PLACEMENT)
    return recorded


@pytest.fixture(scope="module")
def alone() -> list[Recorded]:
    return [solo(config) for config in MEMBERS]


@pytest.fixture(scope="module")
def packed() -> list[Recorded]:
    recorded = [Recorded() for _ in MEMBERS]
    train_pack(MEMBERS, "data", recorded, PLACEMENT)
    return recorded


def assert_same(alone: Recorded, packed: Recorded) -> None:
    assert [r.epoch for r in packed.reports] == [r.epoch for r in alone.reports]
    for mine, theirs in zip(packed.reports, alone.reports, strict=True):
        for key in COMPARED:
            if key in theirs.metrics:
                assert mine.metrics[key] == pytest.approx(theirs.metrics[key], rel=RELATIVE, abs=1e-7), (key, mine.epoch)
    assert packed.reports[-1].confusion_matrix is not None
    mine_weights, their_weights = packed.reports[-1].checkpoint()["model"], alone.reports[-1].checkpoint()["model"]
    assert mine_weights.keys() == their_weights.keys()
    for name, weights in their_weights.items():
        if weights.is_floating_point():
            assert relative_change(mine_weights[name], weights) <= WEIGHTS_RELATIVE, name
        else:
            assert torch.equal(mine_weights[name], weights), name


def relative_change(mine: torch.Tensor, theirs: torch.Tensor) -> float:
    return float((mine - theirs).norm() / theirs.norm())


@pytest.mark.parametrize("member", range(len(MEMBERS)), ids=[f"{c['optim']['name']}-seed{c['seed']}" for c in MEMBERS])
def test_each_member_trains_as_it_would_alone(alone: list[Recorded], packed: list[Recorded], member: int) -> None:
    assert_same(alone[member], packed[member])


def test_a_pack_larger_than_one_step_trains_in_turns_as_alone(alone: list[Recorded], monkeypatch: pytest.MonkeyPatch) -> None:
    """A step that holds 4 of the 6 (a GPU's memory, `members_per_step`): the last two join as the first leave."""
    monkeypatch.setattr(pack, "members_per_step", lambda config, device, gpu_share=1.0: 4)
    recorded = [Recorded() for _ in MEMBERS]
    train_pack(MEMBERS, "data", recorded, PLACEMENT)
    for reference, member in zip(alone, recorded, strict=True):
        assert_same(reference, member)


def test_members_share_one_pack_key_and_form_one_pack() -> None:
    keys = {pack_key(config) for config in MEMBERS}
    assert len(keys) == 1 and None not in keys
    trials = [PlannedTrial(f"t{i}", config, f"t{i}", 0, "g") for i, config in enumerate(MEMBERS)]
    packs = form_packs(trials, limit=4, key=lambda trial: pack_key(trial.config))
    assert [len(pack.members) for pack in packs] == [4, 2]


@pytest.mark.parametrize(
    ("change", "packs"),
    [({"trainer.batch_size": 64}, False), ({"model.width": 2.0}, False), ({"data.crop": 24}, False),
     ({"model.dropout": 0.9}, True), ({"optim.lr": 1.0}, True), ({"seed": 9}, True), ({"trainer.epochs": 7}, True)],
)
def test_what_a_pack_shares(change: dict[str, Any], packs: bool) -> None:
    assert (pack_key(trial_config(**change)) == pack_key(trial_config())) is packs


def killed_mid_pack() -> list[Recorded]:
    """Pack members whose reports stop the pack at epoch 1 of the third member: some have a checkpoint, some not."""
    recorded = [Recorded() for _ in MEMBERS]
    recorded[2] = Recorded(kill_after=1)
    with pytest.raises(KeyboardInterrupt):
        train_pack(MEMBERS, "data", recorded, PLACEMENT)
    return recorded


def test_a_killed_pack_resumes_every_member_from_its_own_checkpoint(alone: list[Recorded]) -> None:
    first = killed_mid_pack()
    assert any(r.checkpoint is not None for r in first) and any(r.checkpoint is None for r in first)
    resumed = [Recorded() for _ in MEMBERS]
    train_pack(MEMBERS, "data", resumed, PLACEMENT, [r.checkpoint for r in first])
    for before, after, reference in zip(first, resumed, alone, strict=True):
        joined = Recorded()
        done = {r.epoch for r in after.reports}
        joined.reports = [r for r in before.reports if r.epoch not in done] + after.reports
        assert_same(reference, joined)


def test_an_mse_mlp_pack_trains_as_alone() -> None:
    """SYDE's model A: an MLP ending in relu, trained on mean squared error against one-hot targets."""
    mlp = {"model": OmegaConf.to_container(OmegaConf.load(CONF_DIR / "model" / "syde_mlp_a.yaml")), "trainer.loss": "mse"}
    configs = [trial_config(**{**mlp, "seed": seed, "optim.lr": lr}) for seed, lr in ((1, 0.1), (2, 0.01))]
    recorded = [Recorded() for _ in configs]
    train_pack(configs, "data", recorded, PLACEMENT)
    for config, packed_member in zip(configs, recorded, strict=True):
        assert_same(solo(config), packed_member)


def test_the_weight_bound_is_what_float_order_alone_moves(alone: list[Recorded]) -> None:
    """The same RMSprop trial alone in NHWC instead of NCHW: its weights move by more than 1e-5, within the bound."""
    nhwc = Recorded()
    train(MEMBERS[2], "data", nhwc, Placement(threads=2, channels_last=True))
    nchw = alone[2].reports[-1].checkpoint()["model"]
    weights = nhwc.reports[-1].checkpoint()["model"]
    spread = max(relative_change(weights[name], nchw[name]) for name in nchw if nchw[name].is_floating_point())
    assert RELATIVE < spread <= WEIGHTS_RELATIVE


def test_every_optimizer_of_conf_is_in_the_pack() -> None:
    assert {config["optim"]["name"] for config in MEMBERS} == set(Configs().groups()["optim"])

