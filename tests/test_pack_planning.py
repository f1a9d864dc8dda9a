"""Which trials `sweep run` packs together: by pack key, within the pack size, and — with `pack_size: auto`
on a CPU — only where benchmarks/pack_speed.py measured a pack to pay (small conv-free models)."""

from __future__ import annotations

import pytest

from sweeps.plan.build import plan_study
from sweeps.plan.packs import grid_packs, pack_limit
from trainables.image.kind import packs_pay_on_cpu


@pytest.mark.parametrize(
    ("study", "question", "pays"),
    [("syde522", "q01", True), ("cloudmesh_mlp", "benchmark", True), ("jhu_fashion", "q03", False), ("syde522", "q09", False)],
)
def test_packs_pay_on_a_cpu_for_small_dense_models_only(study: str, question: str, pays: bool) -> None:
    plan = plan_study(study, ["offline=true"], questions=[question])
    assert {packs_pay_on_cpu(trial.config) for trial in plan.trials} == {pays}


def test_a_256_unit_mlp_is_past_the_measured_crossover() -> None:
    plan = plan_study("syde522", ["offline=true"], questions=["q06"])
    paying = {trial.config["model"]["hidden"]: packs_pay_on_cpu(trial.config) for trial in plan.trials}
    assert paying[64] and not paying[256]


@pytest.mark.parametrize(
    ("overrides", "sizes"),
    [
        (["resources.pack_size=auto"], [10, 10]),  # a CPU: syde's MLP packs, ten seeds each
        (["resources.pack_size=1"], [1] * 20),  # off
        (["resources.pack_size=4"], [4, 4, 2, 4, 4, 2]),  # at most four; a pack never mixes the two keys
    ],
)
def test_packs_follow_the_pack_size(overrides: list[str], sizes: list[int]) -> None:
    plan = plan_study("syde522", ["offline=true", *overrides], questions=["q06"])
    small = [trial for trial in plan.trials if trial.config["model"]["hidden"] in (32, 64)]  # ten seeds each
    assert [len(pack.members) for pack in grid_packs(plan, small)] == sizes


def test_auto_packs_every_trial_it_can_on_a_gpu() -> None:
    plan = plan_study("jhu_fashion", ["offline=true", "resources.gpus_per_trial=1"], questions=["q03", "q05"])
    assert pack_limit(plan.runtime.resources) == 64
    assert [len(pack.members) for pack in grid_packs(plan, plan.trials)] == [7]  # q03's three lrs and q05's four other dropouts


def test_a_continuation_is_never_in_the_pack_of_the_trial_it_continues() -> None:
    plan = plan_study("syde522", ["offline=true"], questions=["q01", "q02"])
    packs = grid_packs(plan, plan.trials)
    assert [len(pack.members) for pack in packs] == [10, 10]
    assert {trial.config["trainer"]["epochs"] for trial in packs[0].members} == {5}  # Q1's, then Q2's continuations


def test_a_gpu_step_holds_the_members_half_the_trials_share_of_free_memory_fits(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from trainables.image.pack import member_bytes, members_per_step

    (trial, *_) = plan_study("jhu_fashion", ["offline=true"], questions=["q03"]).trials
    each = member_bytes(trial.config)
    # the JHU net at batch 256: 21,840 parameters (×5) and 13,054 floats of input and outputs per example (×2 × 256)
    assert each == 4 * (5 * 21_840 + 2 * 256 * 13_054)
    gib = 2**30
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device: (100 * gib, 140 * gib))
    cuda = torch.device("cuda", 0)
    assert members_per_step(trial.config, cuda) == int(50 * gib // each)  # half of the 100 GiB free
    assert members_per_step(trial.config, cuda, gpu_share=0.25) == int(17.5 * gib // each)  # half of 35 GiB
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device: (each, 140 * gib))
    assert members_per_step(trial.config, cuda) == 1  # one member at least: alone it trains as it would
    assert members_per_step(trial.config, torch.device("cpu")) >= 64  # a CPU pack is sized by pack_size alone
