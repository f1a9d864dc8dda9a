"""Search and stage questions in the plan: dependencies, ordering, and the errors a study can make."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sweeps.errors import SweepError
from sweeps.plan.build import plan_study


def test_plan_lists_the_search_and_the_stages_with_their_dependencies() -> None:
    document = plan_study("jhu_fashion").to_json()
    questions = {question["id"]: question for question in document["questions"]}
    assert questions["q13"]["kind"] == "search" and questions["q13"]["search"]["num_samples"] == 12
    assert questions["q13"]["search"]["scheduler"]["name"] == "asha"
    assert questions["q14"]["depends_on"] == ["q13"] and questions["q14"]["train"] is False
    assert questions["q15"]["depends_on"] == ["q13"] and questions["q15"]["train"] is True
    assert questions["q15"]["compare_with"] == [{"question": "q01", "variant": {"data": "mnist"}}]
    assert questions["q15"]["variants"][0]["trial"] is None  # resolved once q13 has a best trial
    assert len(document["trials"]) == 20  # searches and stages add theirs when they run


def test_selecting_a_stage_brings_its_source_and_comparison() -> None:
    plan = plan_study("jhu_fashion", questions=["q15"])
    assert [question.id for question in plan.questions] == ["q01", "q13", "q15"]
    assert plan.order == ["q13", "q15"]


def _write_tiny_study(conf_dir: Path, questions: list[dict]) -> None:
    study = {"study": {"name": "tiny", "title": "t", "questions": questions}}
    (conf_dir / "study" / "tiny.yaml").write_text("# @package _global_\n" + yaml.safe_dump(study))


def test_a_dependency_cycle_is_refused(conf_dir: Path) -> None:
    _write_tiny_study(
        conf_dir,
        [
            {"id": "a", "text": "a", "from": {"question": "b"}, "variants": [{}]},
            {"id": "b", "text": "b", "from": {"question": "a"}, "variants": [{}]},
        ],
    )
    with pytest.raises(SweepError, match=r"cycle: a → b → a"):
        plan_study("tiny", conf_dir=conf_dir)


@pytest.mark.parametrize(
    ("question", "message"),
    [
        ({"id": "a", "text": "a", "from": {"question": "nope"}, "variants": [{}]}, "unknown question 'nope'"),
        ({"id": "a", "text": "a", "train": False, "variants": [{}]}, "needs `from:`"),
        ({"id": "a", "text": "a", "grid": {"optim.lr": [1]}, "search": {"space": {"optim.lr": "interval(0, 1)"}, "num_samples": 2}},
         "exactly one of"),
        ({"id": "a", "text": "a", "search": {"space": {"optim.lr": "0.1"}, "num_samples": 2}}, "not a search expression"),
        ({"id": "a", "text": "a", "search": {"space": {"optim.lr": "interval(0, 1)"}, "num_samples": 0}}, "num_samples"),
    ],
)
def test_bad_search_or_stage_questions_are_one_line_errors(conf_dir: Path, question: dict, message: str) -> None:
    _write_tiny_study(conf_dir, [question])
    with pytest.raises(SweepError, match=message) as caught:
        plan_study("tiny", conf_dir=conf_dir)
    assert "\n" not in str(caught.value)
