"""The MLflow filter `sweep ui` and `sweep report` print for one question selects exactly that question's runs,
in a real MLflow store of a study whose question ids are prefixes of each other (q1, q10)."""

from __future__ import annotations

from pathlib import Path

from helpers.report_store import Outcome, write_store
from mlflow.tracking import MlflowClient

from sweeps.plan.build import plan_study
from sweeps.record.store import question_filter, trial_runs
from sweeps.record.tags import QUESTIONS, answers
from sweeps.record.tracking import StudyRuns
from sweeps.trials import Plan

STUDY = """\
# @package _global_
defaults:
  - override /data: digits
study:
  name: prefixed
  title: Question ids that are prefixes of each other
  questions:
    - id: q1
      text: Two learning rates.
      grid:
        optim.lr: [x1, x0.1]
    - id: q10
      text: Two other learning rates; ×1 is q1's trial too.
      grid:
        optim.lr: [x1, x10]
"""


def _plan(folder: Path) -> Plan:
    course = folder / "course"
    (course / "study").mkdir(parents=True)
    (course / "study" / "prefixed.yaml").write_text(STUDY)
    return plan_study("prefixed", ["offline=true", "trainer.epochs=1", f"tracking.uri=sqlite:///{folder / 'mlflow.db'}"], course=course)


def _answering(client: MlflowClient, experiment_id: str, question: str) -> set[str]:
    runs = client.search_runs([experiment_id], filter_string=question_filter(question))
    return {run.info.run_id for run in runs}


def test_the_filter_of_q1_leaves_out_the_runs_only_q10_has(tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    written = write_store(plan.runtime.tracking.uri, plan, lambda trial: Outcome([0.5]))
    client = MlflowClient(plan.runtime.tracking.uri)
    experiment_id = client.get_experiment_by_name(plan.study).experiment_id
    by_question = {q: {written[t.id] for t in plan.trials if q in t.questions} for q in ("q1", "q10")}
    assert len(by_question["q1"]) == 2 and len(by_question["q10"]) == 2 and by_question["q1"] & by_question["q10"]
    assert _answering(client, experiment_id, "q1") == by_question["q1"]
    assert _answering(client, experiment_id, "q10") == by_question["q10"]


def test_a_run_recorded_without_the_question_tags_gets_them_on_the_next_run(tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    write_store(plan.runtime.tracking.uri, plan, lambda trial: Outcome([0.5]))
    client = MlflowClient(plan.runtime.tracking.uri)
    experiment_id = client.get_experiment_by_name(plan.study).experiment_id
    for run in trial_runs(client, experiment_id).values():  # as a store written before the tags were
        for question in run.data.tags[QUESTIONS].split(","):
            client.delete_tag(run.info.run_id, answers(question))
    assert not _answering(client, experiment_id, "q1")
    runs = StudyRuns(plan.runtime.tracking.uri, plan.study)
    runs.update_questions(plan.trials)
    runs.finish()
    assert len(_answering(client, experiment_id, "q1")) == 2 and len(_answering(client, experiment_id, "q10")) == 2
