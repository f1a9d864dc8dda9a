"""The question sets page gives each study's unique trials as `sweep plan` counts them (online, the defaults)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sweeps.plan.build import plan_study

PAGE = Path(__file__).resolve().parent.parent / "docs" / "question-sets.md"
SECTION = "\n## Trial counts and offline times\n"


def _table() -> dict[str, list[str]]:
    """Study → the cells of its row in the table under the page's trial-count heading."""
    text = PAGE.read_text()
    assert SECTION in text, f"{PAGE.name} has no heading {SECTION.strip()!r}"
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return {re.match(r"\| `(\w+)`", row)[1]: [cell.strip() for cell in row.strip("|").split(" | ")] for row in rows}  # type: ignore[index]


def _planned(study: str) -> str:
    """The count as the page writes it: grid trials, then `+ N search samples + M` stage trials if any."""
    plan = plan_study(study)
    samples = sum(q.config.search.num_samples for q in plan.questions if q.config.search is not None)
    stages = sum(len(q.variants) for q in plan.questions if q.form == "stage")
    return f"{len(plan.trials)} + {samples} search samples + {stages}" if samples or stages else str(len(plan.trials))


@pytest.mark.parametrize("study", sorted(_table()))
def test_documented_trial_count_is_the_plans(study: str) -> None:
    assert _table()[study][2] == _planned(study)


def test_the_table_lists_the_course_studies() -> None:
    assert sorted(_table()) == ["cloudmesh_mlp", "convnetjs", "jhu_fashion", "sds_convnet", "syde522"]
