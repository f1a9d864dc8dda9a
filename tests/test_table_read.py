"""A study's runs read straight from an MLflow SQL store's tables (`sweeps.record.table_read`) are exactly
the runs MLflow's own search returns, in its order: the same ids, info, tags, params and latest metrics,
on SQLite and on PostgreSQL (started by the test; skipped with the reason where it cannot be). The tables,
columns and databases it names are the installed MLflow's, and `sweep plan` of a SQLite store's study does
not import MLflow."""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.postgres import missing, postgres_binaries, running_postgres
from helpers.report_store import Outcome, write_store
from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from sweeps.plan.build import plan_study
from sweeps.record import store
from sweeps.record.table_read import _TABLES, DATABASES, TableRun, active_experiments, find_experiment_id, is_database, read_runs
from sweeps.record.tags import RUN_ROLE, SEARCH_ROLE, SUPERSEDED, TRIAL_ID, TRIAL_ROLE

UNPAGED = 50_000  # more runs than the test store holds: one search request reads them all
INFO_FIELDS = ("run_id", "run_name", "experiment_id", "user_id", "status", "start_time", "end_time", "lifecycle_stage", "artifact_uri")


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
        assert isinstance(mine, TableRun)
        for field in INFO_FIELDS:
            assert getattr(mine.info, field) == getattr(theirs.info, field), field
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


def test_the_tables_columns_and_databases_are_the_installed_mlflows() -> None:
    from mlflow.store.db.db_types import DATABASE_ENGINES
    from mlflow.store.tracking.dbmodels.models import SqlLatestMetric, SqlParam, SqlRun, SqlTag

    assert set(DATABASES) == set(DATABASE_ENGINES)
    theirs = {model.__tablename__: set(model.__table__.columns.keys()) for model in (SqlRun, SqlTag, SqlParam, SqlLatestMetric)}
    assert [name for name, _ in _TABLES] == list(theirs)
    for name, columns in _TABLES:
        assert {"run_uuid", *columns} <= theirs[name], name


def test_experiments_are_found_and_listed_as_mlflow_does(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    study = write_varied_store(uri)
    client = MlflowClient(uri)
    gone = client.create_experiment("deleted study")
    client.delete_experiment(gone)  # MLflow's get_experiment_by_name still finds a deleted one
    for name in ("study", "another study", "deleted study", "no such study", "Default"):
        experiment = client.get_experiment_by_name(name)
        assert find_experiment_id(uri, name) == (experiment.experiment_id if experiment else None), name
    assert find_experiment_id(uri, "study") == study
    listed = [(experiment.experiment_id, experiment.name) for experiment in client.search_experiments()]  # active ones
    assert sorted(active_experiments(uri)) == sorted(listed) and ("deleted study" not in dict(listed).values())


def test_sweep_plan_of_a_sqlite_study_imports_no_mlflow(tmp_path: Path) -> None:
    """MLflow's import is ~2 s of a `sweep plan` (about half of it at 100 trials): a study in a SQLite store
    is planned from its tables alone."""
    overrides = ["offline=true", f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}"]
    plan = plan_study("cloudmesh_mlp", overrides)
    write_store(plan.runtime.tracking.uri, plan, lambda trial: Outcome([0.5, 0.6]) if trial is plan.trials[0] else None)
    code = (
        "import sys; from sweeps.cli import main; "
        f"code = main(['plan', 'cloudmesh_mlp', *{overrides!r}]); "
        "print(sorted(name for name in sys.modules if name.split('.')[0] == 'mlflow')); sys.exit(code)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "1 finished" in result.stdout, result.stdout[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stdout[-2000:]


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
