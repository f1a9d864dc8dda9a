"""Which trials `sweep run` packs together: by pack key, within the pack size, and — with `pack_size: auto`
on a CPU — only where benchmarks/pack_speed.py measured a pack to pay (small conv-free models)."""

from __future__ import annotations

import pytest

from sweeps.packs import grid_packs, pack_limit
from sweeps.plan import plan_study
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
