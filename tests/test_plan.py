"""Tests for sweeps.plan.build: the jhu_fashion study planned into question-variants and unique trials.

Planning composes Hydra configs and checks and counts every model in pure Python (~1–2 s for the
whole study), so the default plan is computed once per module. The grid questions q01–q12 are the course's
question set; questions after them (a search, stages that start from its best trial) plan no trial
until they run, so the counts below are those of q01–q12.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from sweeps.plan.build import plan_study, trial_id
from sweeps.trials import Plan, PlannedQuestion, PlannedVariant
from trainables.kinds import kind

STUDY = "jhu_fashion"
QUESTION_IDS = ["q01", "q02", "q03", "q04", "q05", "q06", "q07", "q08", "q09", "q10", "q12"]
# The ×1 (unchanged) variant of Q3–Q7, as the plan writes it with relative values made absolute.
BASELINE_VARIANT = {
    "q03": {"optim.lr": 0.01},
    "q04": {"optim": "sgd"},
    "q05": {"model.dropout": 0.5},
    "q06": {"trainer.batch_size": 256},
    "q07": {"model.width": 1.0},
    "q08": {"model": "jhu_baseline"},
    "q12": {"model": "jhu_baseline"},
}


@pytest.fixture(scope="module")
def plan() -> Plan:
    return plan_study(STUDY)


def question(plan: Plan, qid: str) -> PlannedQuestion:
    matches = [q for q in plan.questions if q.id == qid]
    assert len(matches) == 1, f"{qid} appears {len(matches)} times"
    return matches[0]


def variant(plan: Plan, qid: str, **overrides: Any) -> PlannedVariant:
    """The one variant of `qid` whose overrides include every `key=value` (dots written as __)."""
    wanted = {key.replace("__", "."): value for key, value in overrides.items()}
    matches = [v for v in question(plan, qid).variants if all(v.overrides.get(k) == x for k, x in wanted.items())]
    assert len(matches) == 1, f"{qid} {wanted}: {len(matches)} matching variants"
    return matches[0]


def reference(plan: Plan, qid: str) -> PlannedVariant:
    refs = [v for v in question(plan, qid).variants if v.reference]
    assert len(refs) == 1, f"{qid} has {len(refs)} reference variants"
    return refs[0]


def variant_count(plan: Plan) -> int:
    """Question-variants of the grid questions q01–q12 (what `sweep plan` counts)."""
    return sum(len(q.variants) for q in plan.questions if q.id in QUESTION_IDS)


def validated(config: dict[str, Any]) -> Any:
    """The trial config as its trainable's schema (what trial_id hashes)."""
    return kind(config.get("trainable", "image")).schema.model_validate(config)


def config_of(plan: Plan, tid: str) -> dict[str, Any]:
    return plan.trial(tid).config


# --- the default plan --------------------------------------------------------------------------


def test_default_plan_has_31_variants_and_20_unique_trials(plan: Plan) -> None:
    assert plan.study == STUDY
    assert variant_count(plan) == 31
    assert len(plan.trials) == 20
    ids = [t.id for t in plan.trials]
    assert len(set(ids)) == 20
    assert all(len(tid) == 12 and int(tid, 16) >= 0 for tid in ids)  # 12 hex digits
    used = {tid for q in plan.questions for v in q.variants for tid in v.trials}
    assert used == set(ids)  # no orphan trial, no variant pointing at a missing trial


def test_question_ids_in_study_order(plan: Plan) -> None:
    ids = [q.id for q in plan.questions]
    assert ids[: len(QUESTION_IDS)] == QUESTION_IDS
    assert all(q.text for q in plan.questions)
    later = plan.questions[len(QUESTION_IDS) :]  # searches and stages: no trial planned before they run
    assert all(v.trials == [] for q in later for v in q.variants)


def test_variant_counts_per_question(plan: Plan) -> None:
    counts = {q.id: len(q.variants) for q in plan.questions if q.id in QUESTION_IDS}
    assert counts == {
        "q01": 2, "q02": 4, "q03": 3, "q04": 3, "q05": 5, "q06": 3,
        "q07": 3, "q08": 2, "q09": 2, "q10": 2, "q12": 2,
    }  # fmt: skip


def test_q1_fashion_trial_is_the_x1_and_reference_of_q3_to_q8_and_q12(plan: Plan) -> None:
    fashion = variant(plan, "q01", data="fashion_mnist").trial
    mnist = variant(plan, "q01", data="mnist").trial
    assert fashion != mnist
    for qid, overrides in BASELINE_VARIANT.items():
        matches = [v for v in question(plan, qid).variants if v.overrides == overrides]
        assert [v.trial for v in matches] == [fashion], qid
        assert reference(plan, qid).trial == fashion, qid
    assert plan.trial(fashion).questions == ["q01", "q02", "q03", "q04", "q05", "q06", "q07", "q08", "q12"]
    assert plan.trial(fashion).name == "q01 data=fashion_mnist"  # named after the first question asking
    config = config_of(plan, fashion)
    assert config["data"]["name"] == config["data"]["source"] == "fashion_mnist"
    assert config["optim"].items() >= {
        "name": "sgd", "lr": 0.01, "momentum": 0.5, "dampening": 0.0, "nesterov": False, "weight_decay": 0.0,
    }.items()  # fmt: skip
    assert config["trainer"].items() >= {"epochs": 10, "batch_size": 256, "test_batch_size": 1000, "loss": "nll"}.items()
    assert (config["model"]["name"], config["model"]["width"], config["model"]["dropout"]) == ("jhu_baseline", 1.0, 0.5)
    assert config["seed"] == 1


def test_questions_without_reference_mark_none(plan: Plan) -> None:
    for qid in ("q01", "q02"):
        assert not any(v.reference for v in question(plan, qid).variants)


def test_q2_ten_epoch_runs_are_q1s_trials_and_twenty_epoch_runs_are_new(plan: Plan) -> None:
    q1_ids = set()
    for data in ("mnist", "fashion_mnist"):
        q1 = variant(plan, "q01", data=data).trial
        q1_ids.add(q1)
        ten = variant(plan, "q02", data=data, trainer__epochs=10).trial
        twenty = variant(plan, "q02", data=data, trainer__epochs=20).trial
        assert ten == q1
        assert twenty != q1
        assert plan.trial(twenty).questions == ["q02"]
        assert config_of(plan, twenty)["trainer"]["epochs"] == 20
        assert config_of(plan, twenty)["data"]["source"] == data
        assert config_of(plan, ten)["trainer"]["epochs"] == 10
    twenties = {v.trial for v in question(plan, "q02").variants if v.overrides["trainer.epochs"] == 20}
    assert len(twenties) == 2 and not twenties & q1_ids


def test_q9_reference_is_q8_bn_trial_and_q10_reference_is_q9_bn_dropout(plan: Plan) -> None:
    q8_bn = variant(plan, "q08", model="jhu_bn").trial
    q9_bn_dropout = variant(plan, "q09", model="jhu_bn_dropout").trial
    assert reference(plan, "q09").trial == q8_bn
    assert reference(plan, "q10").trial == q9_bn_dropout
    assert reference(plan, "q09").overrides == {"model": "jhu_bn"}
    assert plan.trial(q8_bn).questions == ["q08", "q09"]
    assert plan.trial(q9_bn_dropout).questions == ["q09", "q10"]
    assert config_of(plan, q8_bn)["model"]["name"] == "jhu_bn"
    dropout_bn = variant(plan, "q10", model="jhu_dropout_bn").trial
    assert len({q8_bn, q9_bn_dropout, dropout_bn}) == 3


def test_q3_relative_learning_rates_are_exact(plan: Plan) -> None:
    lrs = [v.overrides["optim.lr"] for v in question(plan, "q03").variants]
    assert lrs == [0.001, 0.01, 0.1]
    assert repr(lrs[0]) == "0.001"  # no float noise in what the plan shows
    assert [config_of(plan, v.trial)["optim"]["lr"] for v in question(plan, "q03").variants] == [0.001, 0.01, 0.1]


def test_q5_dropout_reaches_every_dropout_layer(plan: Plan) -> None:
    for v in question(plan, "q05").variants:
        p = v.overrides["model.dropout"]
        layers = config_of(plan, v.trial)["model"]["layers"]
        dropouts = [layer["p"] for layer in layers if layer["type"] in ("dropout", "dropout2d")]
        assert dropouts == [p, p], v.overrides


def test_q6_batch_sizes_of_default_baseline(plan: Plan) -> None:
    sizes = [v.overrides["trainer.batch_size"] for v in question(plan, "q06").variants]
    assert sizes == [32, 256, 2048]
    assert all(type(size) is int for size in sizes)


def test_variant_parameter_counts(plan: Plan) -> None:
    def params(qid: str, **overrides: Any) -> int:
        return plan.trial(variant(plan, qid, **overrides).trial).parameters

    assert params("q01", data="fashion_mnist") == 21_840
    assert params("q07", model__width=0.5) == 5_675
    assert params("q07", model__width=2.0) == 85_670
    assert params("q08", model="jhu_bn") == 21_860
    assert params("q12", model="jhu_extra_conv") == 18_930


def test_trial_id_is_the_hash_of_the_trial_config(plan: Plan) -> None:
    for trial in plan.trials:
        assert trial_id(validated(trial.config)) == trial.id


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [("model", "note", "a new explanation"), ("data", "download", False), ("data", "standin", "digits")],
)
def test_prose_and_download_do_not_change_the_trial_id(plan: Plan, section: str, key: str, value: Any) -> None:
    trial = plan.trial(variant(plan, "q01", data="fashion_mnist").trial)
    config = copy.deepcopy(trial.config)
    assert config[section][key] != value  # the edit really changes the config
    config[section][key] = value
    assert trial_id(validated(config)) == trial.id


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [("optim", "lr", 0.02), ("trainer", "test_batch_size", 500), ("data", "mean", 0.5), ("model", "width", 1.5)],
)
def test_what_a_trial_computes_changes_its_id(plan: Plan, section: str, key: str, value: Any) -> None:
    trial = plan.trial(variant(plan, "q01", data="fashion_mnist").trial)
    config = copy.deepcopy(trial.config)
    config[section][key] = value
    assert trial_id(validated(config)) != trial.id


def test_plan_is_deterministic(plan: Plan) -> None:
    again = plan_study(STUDY)
    assert [t.id for t in again.trials] == [t.id for t in plan.trials]
    assert [[v.trials for v in q.variants] for q in again.questions] == [
        [v.trials for v in q.variants] for q in plan.questions
    ]
    assert again.to_json() == plan.to_json()


def test_seed_changes_every_trial_id(plan: Plan) -> None:
    seeded = plan_study(STUDY, ["seed=2"], questions=["q01", "q07", "q12"])
    assert (variant_count(seeded), len(seeded.trials)) == (7, 5)
    assert not {t.id for t in seeded.trials} & {t.id for t in plan.trials}
    assert {t.config["seed"] for t in seeded.trials} == {2}


# --- baseline overrides -------------------------------------------------------------------------


def test_one_epoch_keeps_the_structure_and_q2_compares_1_with_2_epochs() -> None:
    short = plan_study(STUDY, ["trainer.epochs=1"])
    assert (variant_count(short), len(short.trials)) == (31, 20)
    epochs = sorted(v.overrides["trainer.epochs"] for v in question(short, "q02").variants)
    assert epochs == [1, 1, 2, 2]
    for v in question(short, "q02").variants:
        assert config_of(short, v.trial)["trainer"]["epochs"] == v.overrides["trainer.epochs"]
    others = [t for t in short.trials if t.questions != ["q02"]]
    assert {t.config["trainer"]["epochs"] for t in others} == {1}
    assert variant(short, "q02", data="mnist", trainer__epochs=1).trial == variant(short, "q01", data="mnist").trial


def test_batch_size_override_scales_q6() -> None:
    small = plan_study(STUDY, ["trainer.batch_size=64"], questions=["q06"])
    assert [v.overrides["trainer.batch_size"] for v in question(small, "q06").variants] == [8, 64, 512]
    assert [config_of(small, v.trial)["trainer"]["batch_size"] for v in question(small, "q06").variants] == [8, 64, 512]
    assert reference(small, "q06").overrides == {"trainer.batch_size": 64}


def test_relative_values_follow_the_baselines_optimizer() -> None:
    adam = plan_study(STUDY, ["optim=adam"], questions=["q03"])
    assert [v.overrides["optim.lr"] for v in question(adam, "q03").variants] == [0.0001, 0.001, 0.01]
    assert {t.config["optim"]["name"] for t in adam.trials} == {"adam"}


def test_re_picked_optimizer_starts_from_its_own_defaults() -> None:
    fast = plan_study(STUDY, ["optim.lr=0.05"], questions=["q01", "q04"])
    assert config_of(fast, variant(fast, "q01", data="fashion_mnist").trial)["optim"]["lr"] == 0.05
    assert config_of(fast, variant(fast, "q04", optim="adam").trial)["optim"]["lr"] == 0.001  # Adam's default
    assert config_of(fast, variant(fast, "q04", optim="rmsprop").trial)["optim"]["lr"] == 0.01


# A variant re-picking the baseline's own option keeps the user's values of that group.
@pytest.mark.parametrize(("override", "qid"), [("optim.lr=0.05", "q04"), ("model.dropout=0.25", "q08")])
def test_reference_that_repicks_the_baselines_option_is_the_baseline(override: str, qid: str) -> None:
    changed = plan_study(STUDY, [override], questions=["q01", qid])
    assert reference(changed, qid).trial == variant(changed, "q01", data="fashion_mnist").trial


def test_offline_maps_each_data_set_to_its_own_standin(plan: Plan) -> None:
    offline = plan_study(STUDY, ["offline=true"])
    assert offline.runtime.offline is True
    assert (variant_count(offline), len(offline.trials)) == (31, 20)
    mapping = {(t.config["data"]["name"], t.config["data"]["source"]) for t in offline.trials}
    assert mapping == {("mnist", "mnist_5k"), ("fashion_mnist", "garments")}
    assert {(t.config["data"]["name"], t.config["data"]["source"]) for t in plan.trials} == {
        ("mnist", "mnist"),
        ("fashion_mnist", "fashion_mnist"),
    }
    assert not {t.id for t in offline.trials} & {t.id for t in plan.trials}
    document = offline.to_json()
    assert document["offline"] is True
    assert {t["data_source"] for t in document["trials"]} == {"mnist_5k", "garments"}
    # The same sharing holds offline: Q1's Fashion-MNIST stand-in run answers Q3–Q8 and Q12 too.
    fashion = variant(offline, "q01", data="fashion_mnist").trial
    assert all(reference(offline, qid).trial == fashion for qid in BASELINE_VARIANT)


# --- question selection and the JSON document ---------------------------------------------------


def test_selecting_one_question() -> None:
    only = plan_study(STUDY, questions=["q03"])
    assert [q.id for q in only.questions] == ["q03"]
    assert variant_count(only) == 3
    assert len(only.trials) == 3
    assert all(t.questions == ["q03"] for t in only.trials)


def test_selection_keeps_study_order_and_shares_trials() -> None:
    two = plan_study(STUDY, questions=["q03", "q01"])
    assert [q.id for q in two.questions] == ["q01", "q03"]
    assert (variant_count(two), len(two.trials)) == (5, 4)  # Q3's ×1 is Q1's Fashion-MNIST run


def test_to_json_matches_the_contract(plan: Plan) -> None:
    document = plan.to_json()
    assert json.loads(json.dumps(document)) == document  # plain JSON data, nothing lost
    assert document["study"] == STUDY
    assert [q["id"] for q in document["questions"]][: len(QUESTION_IDS)] == QUESTION_IDS
    trial_ids = [t["id"] for t in document["trials"]]
    assert len(trial_ids) == 20
    for q in document["questions"]:
        assert {"id", "text", "variants"} <= set(q)
        assert isinstance(q["text"], str) and q["text"]
        for v in q["variants"]:
            assert {"trial", "overrides"} <= set(v)
            assert isinstance(v["overrides"], dict) and v["overrides"]
            if q["id"] in QUESTION_IDS:
                assert v["trial"] in trial_ids
            else:  # a stage: resolved once the question it starts from has run
                assert v["trial"] is None and q.get("depends_on")
    for t in document["trials"]:
        assert {"id", "status", "questions"} <= set(t)
        assert t["status"] == "new"
        assert t["questions"] and set(t["questions"]) <= set(QUESTION_IDS)
    q03 = next(q for q in document["questions"] if q["id"] == "q03")
    assert [v["overrides"] for v in q03["variants"]] == [{"optim.lr": 0.001}, {"optim.lr": 0.01}, {"optim.lr": 0.1}]
    assert [v.get("reference", False) for v in q03["variants"]] == [False, True, False]
    # Every trial lists exactly the questions whose variants point at it.
    asked: dict[str, list[str]] = {}
    for q in document["questions"]:
        for v in q["variants"]:
            if v["trial"] is not None and q["id"] not in asked.setdefault(v["trial"], []):
                asked[v["trial"]].append(q["id"])
    assert {t["id"]: t["questions"] for t in document["trials"]} == asked
