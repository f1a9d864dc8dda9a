"""Every run of one role in a study's experiment, and the store's experiments, read straight from the
tables of an MLflow SQL store, without importing MLflow.

`MlflowClient.search_runs` builds ~160 SQLAlchemy ORM objects for each run (its row, tags, params and
latest metrics) before making the `Run` entities: 22.6 s for a 10,000-trial study here. Four plain SELECTs
(runs, tags, params and latest metrics of the experiment's active runs) read the same rows, and each run
comes back as a `TableRun`, whose `info` and `data` hold what MLflow's `SqlRun.to_mlflow_entity` would put
in its `Run` (benchmarks/store_read.py times both). Nothing is cut off, so no read needs paging.

The tables and columns named here are MLflow's (a test checks them against the installed MLflow's
`mlflow.store.tracking.dbmodels.models`). A SQLite store is checked before it is read (this MLflow's schema:
`sweeps.run.preflight.check_schema` in `sweep`, MLflow's client that `sweeps.load` opens first); any other
database is opened first by MLflow's client, which refuses a store of another schema. A store that is no
SQL database (a tracking server over http) has no tables to read: `read_runs` returns None and its caller
searches.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import operator
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlparse

# The databases MLflow keeps a tracking store in (`mlflow.store.db.db_types.DATABASE_ENGINES`; a test
# keeps the two the same): a URI's scheme before any `+driver`.
DATABASES = ("postgresql", "mysql", "sqlite", "mssql")


@dataclass(frozen=True, slots=True)
class TableRunInfo:
    """A run's `runs` row: the fields of MLflow's `RunInfo` that a read here fills."""

    run_id: str
    run_name: str  # "" for a run with no name (MLflow names every run it creates)
    experiment_id: str
    user_id: str
    status: str  # RUNNING, SCHEDULED, FINISHED, FAILED, KILLED
    start_time: int  # ms since the epoch
    end_time: int | None
    lifecycle_stage: str
    artifact_uri: str | None


@dataclass(frozen=True, slots=True)
class TableRunData:
    tags: dict[str, str]
    params: dict[str, str]
    metrics: dict[str, float]  # each metric's latest value, as MLflow's `RunData.metrics`


@dataclass(frozen=True, slots=True)
class TableRun:
    """A run as read from the tables: what MLflow's `Run` entity of it would hold in `info` and `data`,
    without importing MLflow (~2 s) or building its entities."""

    info: TableRunInfo
    data: TableRunData


def is_database(uri: str) -> bool:
    """Whether `uri` names an SQL database MLflow stores runs in (sqlite, postgresql, mysql, mssql; any driver)."""
    return urlparse(uri).scheme.split("+")[0] in DATABASES


def find_experiment_id(uri: str, name: str) -> str | None:
    """The id of the experiment called `name` (whatever its lifecycle stage, as MLflow's `get_experiment_by_name`
    finds it), or None."""
    import sqlalchemy

    experiments = _experiments()
    query = sqlalchemy.select(experiments.c.experiment_id).where(experiments.c.name == name)
    with _connection(uri) as connection:
        found = connection.execute(query).scalar()
    return None if found is None else str(found)


def active_experiments(uri: str) -> list[tuple[str, str]]:
    """Every active experiment's id and name, as MLflow's `search_experiments` lists them."""
    import sqlalchemy

    experiments = _experiments()
    query = sqlalchemy.select(experiments.c.experiment_id, experiments.c.name).where(experiments.c.lifecycle_stage == "active")
    with _connection(uri) as connection:
        return [(str(found), name) for found, name in connection.execute(query)]


def _experiments() -> Any:
    """MLflow's `experiments` table, the columns read here."""
    import sqlalchemy

    return sqlalchemy.table("experiments", *(sqlalchemy.column(name) for name in ("experiment_id", "name", "lifecycle_stage")))


def read_runs(uri: str, experiment_id: str, tag: str, value: str) -> list[TableRun] | None:
    """The experiment's active runs tagged `tag` = `value`, newest first (as `search_runs` orders them);
    None when `uri` is no SQL database."""
    if not is_database(uri):
        return None
    import sqlalchemy

    runs, tags, params, metrics = (
        sqlalchemy.table(name, *(sqlalchemy.column(column) for column in ("run_uuid", *columns))) for name, columns in _TABLES
    )
    active = sqlalchemy.select(runs.c.run_uuid).where(runs.c.experiment_id == int(experiment_id), runs.c.lifecycle_stage == "active")
    queries = [
        sqlalchemy.select(runs).where(runs.c.run_uuid.in_(active)).order_by(runs.c.start_time.desc(), runs.c.run_uuid),
        *(
            sqlalchemy.select(table).where(table.c.run_uuid.in_(active)).order_by(table.c.run_uuid)  # each run's rows together
            for table in (tags, params, metrics)
        ),
    ]
    with _connection(uri) as connection:
        # The driver's own cursor: plain tuples, in a third of the time SQLAlchemy's rows take. Every value in
        # the queries is an int or a fixed word, so they are compiled with their values in place.
        texts = [str(query.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True})) for query in queries]
        cursor = connection.connection.cursor()
        run_rows, tag_rows, param_rows, metric_rows = (_fetch(cursor, text) for text in texts)
    tags_of = _per_run(tag_rows, lambda rows: {key: value for _, key, value in rows})
    chosen = [row for row in run_rows if tags_of.get(row[0], {}).get(tag) == value]
    params_of = _per_run(param_rows, lambda rows: {key: value for _, key, value in rows})
    metrics_of = _per_run(metric_rows, lambda rows: {key: math.nan if is_nan else value for _, key, value, is_nan in rows})
    return [_run(row, tags_of[row[0]], params_of.get(row[0], {}), metrics_of.get(row[0], {})) for row in chosen]


# The tables read and their columns besides `run_uuid`, as MLflow names them (a test checks them against
# `mlflow.store.tracking.dbmodels.models`). A NaN metric is stored as 0 with `is_nan` set.
_TABLES = (
    ("runs", ("name", "experiment_id", "user_id", "status", "start_time", "end_time", "lifecycle_stage", "artifact_uri")),
    ("tags", ("key", "value")),
    ("params", ("key", "value")),
    ("latest_metrics", ("key", "value", "is_nan")),
)
_RUN_NAME_TAG = "mlflow.runName"  # `mlflow.utils.mlflow_tags.MLFLOW_RUN_NAME`: an unnamed run's name

Made = TypeVar("Made")


@contextlib.contextmanager
def _connection(uri: str) -> Iterator[Any]:
    """One connection to the database of `uri`, closed (with its engine) on leaving."""
    import sqlalchemy
    from sqlalchemy.pool import NullPool

    engine = sqlalchemy.create_engine(uri, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


def _fetch(cursor: Any, text: str) -> list[tuple[Any, ...]]:
    cursor.execute(text)
    return cursor.fetchall()


def _per_run(rows: list[tuple[Any, ...]], make: Callable[[Iterator[tuple[Any, ...]]], Made]) -> dict[str, Made]:
    """Run id → what `make` makes of its rows (rows ordered by run id, the first column)."""
    return {run_id: make(group) for run_id, group in itertools.groupby(rows, operator.itemgetter(0))}


def _run(row: tuple[Any, ...], tags: dict[str, str], params: dict[str, str], metrics: dict[str, float]) -> TableRun:
    """A `runs` row (run_uuid, then `_TABLES`' columns) with its tags, params and metrics, as
    `SqlRun.to_mlflow_entity` reads them."""
    run_id, name, experiment, user_id, status, start_time, end_time, lifecycle_stage, artifact_uri = row
    info = TableRunInfo(
        run_id=run_id,
        run_name=name or tags.get(_RUN_NAME_TAG, ""),  # an unnamed run takes its name tag's, as in MLflow
        experiment_id=str(experiment),
        user_id=user_id,
        status=status,
        start_time=start_time,
        end_time=end_time,
        lifecycle_stage=lifecycle_stage,
        artifact_uri=artifact_uri,
    )
    return TableRun(info, TableRunData(tags, params, metrics))
