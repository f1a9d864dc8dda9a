"""A study's runs read straight from an MLflow SQL store's tables (`sweeps.record.table_read`) are exactly
the runs MLflow's own search returns, in its order: the same ids, info, tags, params and latest metrics,
on SQLite and on PostgreSQL (started by the test; skipped with the reason where it cannot be)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.postgres import missing, postgres_binaries, running_postgres
from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from sweeps.record import store
from sweeps.record.table_read import is_database, read_runs
from sweeps.record.tags import RUN_ROLE, SEARCH_ROLE, SUPERSEDED, TRIAL_ID, TRIAL_ROLE

UNPAGED = 50_000  # more runs than the test store holds: one search request reads them all


def write_varied_store(uri: str) -> str:
    """A study's experiment with every kind of run a read must tell apart; its id. Another experiment's
    runs and a deleted run must not be read; an unnamed run, a NaN metric, a run with no params or
    metrics, a superseded run and two runs started at the same millisecond must come back as MLflow's."""
    client = MlflowClient(uri)
    study = client.create_experiment("study")
    other = client.create_experiment("another study")
    trial = {RUN_ROLE: TRIAL_ROLE}
    for index in range(6):
        run = client.create_run(study, run_name=f"trial {index}", tags={**trial, TRIAL_ID: f"t{index}"}, start_time=1_000 + index // 2)
        params = [Param("optim.lr", str(0.1 / (index + 1))), Param("model.layers", '[{"kind": "dense", "units": 64}]')]
        metrics = [Metric("val_acc", 0.5 + index / 100, 1_700_000_000_000 + step, step) for step in range(3)]
        client.log_batch(run.info.run_id, metrics=metrics, params=params, tags=[RunTag("epoch", "2")])
        client.set_terminated(run.info.run_id, "FINISHED" if index % 3 else "KILLED")
    diverged = client.create_run(study, run_name="diverged", tags={**trial, TRIAL_ID: "t-nan"})
    client.log_batch(diverged.info.run_id, metrics=[Metric("train_loss", math.nan, 1_700_000_000_000, 0)])
    client.create_run(study, tags={**trial, TRIAL_ID: "t-bare"})  # no name given: MLflow names it
    client.create_run(study, run_name="old code", tags={**trial, TRIAL_ID: "t0", SUPERSEDED: "true"})
    deleted = client.create_run(study, run_name="deleted", tags={**trial, TRIAL_ID: "t-deleted"})
    client.delete_run(deleted.info.run_id)
    client.create_run(study, run_name="q13 search", tags={RUN_ROLE: SEARCH_ROLE})
    client.create_run(study, run_name="untagged")
    client.create_run(other, run_name="elsewhere", tags={**trial, TRIAL_ID: "t0"})
    return study


def assert_reads_as_mlflow_searches(uri: str, experiment_id: str, role: str) -> None:
    client = MlflowClient(uri)
    searched = list(client.search_runs([experiment_id], f"tags.`{RUN_ROLE}` = '{role}'", max_results=UNPAGED))
    read = read_runs(uri, experiment_id, RUN_ROLE, role)
    assert read is not None and searched
    assert [run.info.run_id for run in read] == [run.info.run_id for run in searched]
    for mine, theirs in zip(read, searched, strict=True):
        assert mine.info.to_proto() == theirs.info.to_proto()
        assert (mine.data.tags, mine.data.params) == (theirs.data.tags, theirs.data.params)
        assert mine.data.metrics.keys() == theirs.data.metrics.keys()
        for key, value in theirs.data.metrics.items():
            assert mine.data.metrics[key] == value or (math.isnan(value) and math.isnan(mine.data.metrics[key]))


@pytest.mark.parametrize("role", [TRIAL_ROLE, SEARCH_ROLE])
def test_a_sqlite_store_reads_as_mlflow_searches_it(tmp_path: Path, role: str) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert_reads_as_mlflow_searches(uri, write_varied_store(uri), role)


def test_a_trial_id_maps_to_the_same_run_either_way(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    experiment_id = write_varied_store(uri)
    client = MlflowClient(uri)
    read = {trial_id: run.info.run_id for trial_id, run in store.trial_runs(client, experiment_id).items()}
    monkeypatch.setattr(store, "read_runs", lambda *args: None)  # as a store with no tables to read: a server
    searched = {trial_id: run.info.run_id for trial_id, run in store.trial_runs(client, experiment_id).items()}
    assert read == searched and "t-deleted" not in read and len(read) == 8


@pytest.mark.parametrize(
    "uri, database",
    [
        ("sqlite:///mlflow.db", True),
        ("sqlite:////abs/path/mlflow.db", True),
        ("postgresql://sweeps@db:5432/runs", True),
        ("postgresql+psycopg://sweeps@db/runs", True),
        ("mysql+pymysql://user@db/runs", True),
        ("http://127.0.0.1:5000", False),
        ("https://mlflow.example.org", False),
        ("file:///tmp/mlruns", False),
        ("databricks", False),
    ],
)
def test_only_a_database_has_tables_to_read(uri: str, database: bool) -> None:
    assert is_database(uri) is database
    if not database:
        assert read_runs(uri, "1", RUN_ROLE, TRIAL_ROLE) is None


MISSING = missing()


@pytest.fixture
def postgres_uri() -> Iterator[str]:
    binaries = postgres_binaries()
    assert binaries is not None
    with running_postgres(binaries) as server:
        yield server.create_database("table_read")


@pytest.mark.slow
@pytest.mark.skipif(MISSING is not None, reason=MISSING or "")
def test_a_postgresql_store_reads_as_mlflow_searches_it(postgres_uri: str) -> None:
    experiment_id = write_varied_store(postgres_uri)
    for role in (TRIAL_ROLE, SEARCH_ROLE):
        assert_reads_as_mlflow_searches(postgres_uri, experiment_id, role)
