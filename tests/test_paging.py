"""Every search of a study's store pages through MLflow's search results: with a page of one run (or one
experiment), each reader still finds every run a single unpaged request would."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.report_store import write_repeats_store
from mlflow.tracking import MlflowClient

from sweeps.plan import estimate
from sweeps.record import store
from sweeps.record.store import best_trial, trial_runs
from sweeps.record.tags import QUESTION, QUESTIONS, RUN_ROLE, SEARCH_ROLE, STUDY, SUMMARY_ROLE, TRIAL_ROLE
from sweeps.report.collect import read_study
from sweeps.report.summary_runs import summary_runs
from sweeps.serve.ui import experiment_links
from sweeps.trials import Plan

UNPAGED = 50_000  # more runs than any test store holds: one request reads them all


@pytest.fixture
def stored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Plan, MlflowClient, str]:
    """The repeats study's store (11 trial runs, 10 finished), searched one run per page from here on, as
    a tracking server's store is (a database's tables are read whole: `sweeps.record.table_read`)."""
    plan = write_repeats_store(tmp_path)
    client = MlflowClient(plan.runtime.tracking.uri)
    experiment_id = client.get_experiment_by_name(plan.study).experiment_id
    monkeypatch.setattr(store, "PAGE_SIZE", 1)
    monkeypatch.setattr(store, "read_runs", lambda *args: None)
    monkeypatch.setattr(store, "experiments_in_tables", lambda uri: False)
    monkeypatch.setattr(estimate, "is_database", lambda uri: False)
    return plan, client, experiment_id


def _all(client: MlflowClient, experiment_id: str, filter_string: str) -> list:
    return list(client.search_runs([experiment_id], filter_string=filter_string, max_results=UNPAGED))


def test_every_trial_run_is_read_past_the_first_page(stored: tuple[Plan, MlflowClient, str]) -> None:
    _, client, experiment_id = stored
    everything = _all(client, experiment_id, f"tags.`{RUN_ROLE}` = '{TRIAL_ROLE}'")
    assert len(everything) > 1
    assert {run.info.run_id for run in trial_runs(client, experiment_id).values()} == {run.info.run_id for run in everything}


def test_the_best_trial_is_found_on_any_page(stored: tuple[Plan, MlflowClient, str]) -> None:
    plan, client, experiment_id = stored
    finished = _all(client, experiment_id, f"tags.`{RUN_ROLE}` = '{TRIAL_ROLE}' and attributes.status = 'FINISHED'")
    best = max(run.data.metrics["val_acc"] for run in finished)
    assert finished[0].data.metrics["val_acc"] < best  # the newest run (the first page) is not the best
    found = best_trial(client, experiment_id, plan.questions[0].id, "val_acc", "max")
    assert found is not None and found.data.metrics["val_acc"] == best


def test_the_estimate_reads_every_finished_run_of_every_study(stored: tuple[Plan, MlflowClient, str], tmp_path: Path) -> None:
    plan, client, experiment_id = stored
    client.create_experiment("another study")  # two experiments besides Default: more than one page of them
    finished = _all(client, experiment_id, f"tags.`{RUN_ROLE}` = '{TRIAL_ROLE}' and attributes.status = 'FINISHED'")
    runs = estimate._finished_trial_runs(plan, None)
    assert len(finished) > 1 and {run.info.run_id for run in runs} == {run.info.run_id for run in finished}


def test_every_finished_search_is_known(stored: tuple[Plan, MlflowClient, str]) -> None:
    plan, client, experiment_id = stored
    questions = ["s1", "s2", "s3"]
    for question in questions:
        run = client.create_run(experiment_id, tags={RUN_ROLE: SEARCH_ROLE, QUESTIONS: question, STUDY: plan.study})
        client.set_terminated(run.info.run_id, "FINISHED")
    assert estimate._finished_searches(plan) == set(questions)


def test_every_summary_run_is_found_again(stored: tuple[Plan, MlflowClient, str]) -> None:
    plan, client, experiment_id = stored
    made = {}
    for question in ["r01", "r02", "r03"]:
        tags = {RUN_ROLE: SUMMARY_ROLE, QUESTION: question, QUESTIONS: question, STUDY: plan.study}
        made[question] = client.create_run(experiment_id, tags=tags).info.run_id
    assert summary_runs(read_study(plan)) == made


def test_the_ui_lists_every_experiment(stored: tuple[Plan, MlflowClient, str]) -> None:
    plan, client, _ = stored
    client.create_experiment("another study")
    assert set(experiment_links(plan.runtime.tracking.uri, 5000)) == {plan.study, "another study"}
