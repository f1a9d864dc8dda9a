"""The course material's other question sets: they plan, and each runs end to end offline."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from sweeps.plan.build import plan_study
from trainables.image.losses import LOSSES
from trainables.image.metrics import first_crossing

COURSE_STUDIES = ("syde522", "sds_convnet", "convnetjs", "cloudmesh_mlp")


@pytest.mark.parametrize("study", COURSE_STUDIES)
@pytest.mark.parametrize("offline", [False, True])
def test_course_study_plans_and_validates(study: str, offline: bool) -> None:
    plan = plan_study(study, [f"offline={str(offline).lower()}"])
    assert plan.questions and plan.trials
    sources = {trial.config["data"]["source"] for trial in plan.trials}
    if offline:
        assert sources <= {"mnist_5k", "cluttered_objects"}
    else:
        assert sources <= {"mnist", "mnist_svmlight", "cifar10"}


def test_syde_q6_is_8_hidden_sizes_times_10_repeats() -> None:
    plan = plan_study("syde522", questions=["q06"])
    (question,) = plan.questions
    assert [variant.overrides["model.hidden"] for variant in question.variants] == [2, 4, 8, 16, 32, 64, 128, 256]
    assert all(len(variant.trials) == 10 for variant in question.variants)
    assert len(plan.trials) == 80
    for variant in question.variants:  # one group per variant; its ten seeds are consecutive
        trials = [plan.trial(tid) for tid in variant.trials]
        assert {trial.group for trial in trials} == {variant.group}
        assert [trial.config["seed"] for trial in trials] == list(range(1, 11))
    assert len({variant.group for variant in question.variants}) == 8


def test_repeats_are_deterministic_and_dedupe_with_unrepeated_questions() -> None:
    first, again = plan_study("syde522"), plan_study("syde522")
    assert [t.id for t in first.trials] == [t.id for t in again.trials]
    q05 = next(q for q in first.questions if q.id == "q05").variants[0]
    q07_reference = next(v for v in next(q for q in first.questions if q.id == "q07").variants if v.reference)
    assert q07_reference.trial == q05.trials[0]  # Q7's single run is Q5's first seed


def test_study_baseline_gives_way_to_a_variant_group() -> None:
    plan = plan_study("syde522", questions=["q04"])
    sgd, adam = (plan.trial(v.trial).config["optim"] for v in plan.questions[0].variants)
    assert sgd["name"] == "sgd" and sgd["lr"] == 0.1 and sgd["momentum"] == 0.0  # the study's baseline
    assert adam["name"] == "adam" and adam["lr"] == 0.001  # Adam at its library default


def test_svmlight_study_validates_on_a_split_of_the_training_set() -> None:
    plan = plan_study("sds_convnet")
    assert {trial.config["data"]["validation_split"] for trial in plan.trials} == {0.1}
    assert [plan.trial(v.trial).config["trainer"]["epochs"] for q in plan.questions for v in q.variants] == [20, 15, 15, 15, 15]


def test_convnetjs_models_are_built_for_24x24_crops() -> None:
    plan = plan_study("convnetjs")
    assert {trial.config["data"]["crop"] for trial in plan.trials} == {24}
    baseline = next(t for t in plan.trials if t.config["model"]["name"] == "cjs_baseline" and t.config["trainer"]["batch_size"] == 20)
    assert baseline.parameters == (8 * 25 + 8) + (16 * 8 * 25 + 16) + (16 * 4 * 4 * 10 + 10)


# --- the measurements and losses these studies need ------------------------------------------


@pytest.mark.parametrize(
    ("sizes", "correct", "threshold", "window", "expected"),
    [
        ([10] * 5, [5, 6, 9, 9, 10], 0.9, 20, 40),  # windows: 11/20, 15/20, 18/20 at 40 examples
        ([10] * 5, [9, 9, 9, 9, 9], 0.9, 10, 10),  # reached as soon as the window is full
        ([10] * 5, [10, 10, 10, 10, 10], 0.9, 60, None),  # never 60 examples in one epoch
        ([10] * 4, [1, 2, 3, 4], 0.5, 10, None),  # never reached
        ([4, 4, 4, 4], [4, 0, 4, 4], 0.9, 6, 16),  # uneven windows: 8 examples (4/8, then 8/8 at 16)
    ],
)
def test_first_crossing_on_a_scripted_accuracy_curve(sizes, correct, threshold, window, expected) -> None:
    assert first_crossing(torch.tensor(sizes), torch.tensor(correct), threshold, window) == expected


def test_sparse_categorical_crossentropy_on_softmax_equals_cross_entropy_on_logits() -> None:
    logits, target = torch.randn(6, 10), torch.tensor([0, 1, 2, 3, 4, 9])
    loss = LOSSES["sparse_categorical_crossentropy"](logits.softmax(1), target)
    torch.testing.assert_close(loss, F.cross_entropy(logits, target))


def test_mse_is_against_one_hot_targets() -> None:
    output = torch.zeros(2, 3)
    loss = LOSSES["mse"](output, torch.tensor([0, 2]))
    assert loss.item() == pytest.approx(2 / 6)  # two ones among six zeros
