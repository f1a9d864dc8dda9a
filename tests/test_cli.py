"""The real `sweep` command (`python -m sweeps`), run in a fresh working directory per test.

`sweep plan` must write nothing: no MLflow store, no checkpoint folder, no data folder.
"""

from __future__ import annotations

import json

import pytest
from helpers.sweep_cli import SweepCli, assert_bad_input

STUDY = "jhu_fashion"
QUESTION_IDS = ["q01", "q02", "q03", "q04", "q05", "q06", "q07", "q08", "q09", "q10", "q12"]


def test_plan_json_is_one_object_with_20_new_trials(sweep: SweepCli) -> None:
    result = sweep("plan", STUDY, "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)  # the whole of stdout is one JSON document
    assert isinstance(document, dict)
    assert document["study"] == STUDY
    grid = [q for q in document["questions"] if q["id"] in QUESTION_IDS]
    assert [q["id"] for q in grid] == QUESTION_IDS == [q["id"] for q in document["questions"]][: len(grid)]
    assert sum(len(q["variants"]) for q in grid) == 31
    assert len(document["trials"]) == 20
    assert {t["status"] for t in document["trials"]} == {"new"}
    ids = {t["id"] for t in document["trials"]}
    assert {v["trial"] for q in grid for v in q["variants"]} == ids
    assert list(sweep.workdir.iterdir()) == []  # default store sqlite:///mlflow.db (in cwd) not created


def test_human_plan_lists_questions_and_counts_and_creates_no_store(sweep: SweepCli) -> None:
    store = sweep.workdir / "x.db"
    uri = f"sqlite:///{store}"
    result = sweep("plan", STUDY, f"tracking.uri={uri}")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for qid in QUESTION_IDS:
        assert f"\n{qid}  " in out, qid
    assert "31 question-variants, 20 unique trials" in out
    assert "0 finished, 0 partial, 20 new" in out
    assert uri in out
    assert not store.exists()
    assert list(sweep.workdir.iterdir()) == []


def test_questions_option_selects_and_overrides_may_follow_options(sweep: SweepCli) -> None:
    result = sweep("plan", STUDY, "--questions", "q03,q01", "--json", "offline=true")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert [q["id"] for q in document["questions"]] == ["q01", "q03"]
    assert len(document["trials"]) == 4  # Q3's ×1 is Q1's Fashion-MNIST run
    assert document["offline"] is True  # the override after the options was applied
    assert {t["data_source"] for t in document["trials"]} == {"mnist_5k", "garments"}


# In-process validation is covered by test_validation.py; these check the command's exit and stderr.
BAD_INPUT = [
    ("negative lr", ["plan", STUDY, "optim.lr=-1"], ("optim.lr", "greater than 0")),
    ("run validates before Ray", ["run", STUDY, "data=cifar"], ("data", "cifar", "mnist")),
]


@pytest.mark.parametrize(("args", "phrases"), [c[1:] for c in BAD_INPUT], ids=[c[0] for c in BAD_INPUT])
def test_bad_input_exits_2_with_one_line(sweep: SweepCli, args: list[str], phrases: tuple[str, ...]) -> None:
    line = assert_bad_input(sweep(*args))
    for phrase in phrases:
        assert phrase in line
    assert list(sweep.workdir.iterdir()) == []  # not even `sweep run` wrote anything


@pytest.mark.parametrize("command", [["plan"], ["run"]], ids=["plan", "run"])
def test_subcommand_help_mentions_overrides(sweep: SweepCli, command: list[str]) -> None:
    result = sweep(*command, "--help")
    assert result.returncode == 0, result.stderr
    assert "OVERRIDE" in result.stdout
    assert "override" in result.stdout.replace("OVERRIDE", "").lower()  # explained, not only named
    assert "trainer.epochs=1" in result.stdout
    assert STUDY in result.stdout


def test_top_level_help_lists_commands_and_mentions_overrides(sweep: SweepCli) -> None:
    result = sweep("--help")
    assert result.returncode == 0, result.stderr
    assert "plan" in result.stdout and "run" in result.stdout
    assert STUDY in result.stdout
    assert "override" in result.stdout.lower()
