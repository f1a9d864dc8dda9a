"""Every run of one role in a study's experiment, read straight from the tables of an MLflow SQL store.

`MlflowClient.search_runs` builds ~160 SQLAlchemy ORM objects for each run (its row, tags, params and
latest metrics) before making the `Run` entities: 22.6 s for a 10,000-trial study here. Four plain SELECTs
(runs, tags, params and latest metrics of the experiment's active runs) read the same rows, and the
entities are built from them as MLflow's own `SqlRun.to_mlflow_entity` builds them: 1.4 s
(benchmarks/store_read.py). Nothing is cut off, so no read needs paging.

The tables are MLflow's own (`mlflow.store.tracking.dbmodels.models`), so their names and columns are those
of the installed MLflow; its client, which found the experiment first, refuses a store of another schema
(and `sweep` says so before: `sweeps.run.preflight.check_schema`). A store that is no SQL database (a
tracking server over http) has no tables to read: `read_runs` returns None and its caller searches.
"""

from __future__ import annotations

import itertools
import math
import operator
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlparse

if TYPE_CHECKING:  # imported late where used: mlflow costs seconds to import
    from mlflow.entities import Metric, Run


def is_database(uri: str) -> bool:
    """Whether `uri` names an SQL database MLflow stores runs in (sqlite, postgresql, mysql, mssql; any driver)."""
    from mlflow.store.db.db_types import DATABASE_ENGINES

    return urlparse(uri).scheme.split("+")[0] in DATABASE_ENGINES


def read_runs(uri: str, experiment_id: str, tag: str, value: str) -> list[Run] | None:
    """The experiment's active runs tagged `tag` = `value`, newest first (as `search_runs` orders them);
    None when `uri` is no SQL database."""
    if not is_database(uri):
        return None
    import sqlalchemy
    from mlflow.store.tracking.dbmodels.models import SqlLatestMetric, SqlParam, SqlRun, SqlTag
    from sqlalchemy.pool import NullPool

    runs, tags, params, metrics = (model.__table__ for model in (SqlRun, SqlTag, SqlParam, SqlLatestMetric))
    active = sqlalchemy.select(runs.c.run_uuid).where(runs.c.experiment_id == int(experiment_id), runs.c.lifecycle_stage == "active")
    queries = [
        sqlalchemy.select(*(runs.c[name] for name in _RUN_COLUMNS))
        .where(runs.c.run_uuid.in_(active))
        .order_by(runs.c.start_time.desc(), runs.c.run_uuid),
        *(
            sqlalchemy.select(table.c.run_uuid, *(table.c[name] for name in columns))
            .where(table.c.run_uuid.in_(active))
            .order_by(table.c.run_uuid)  # each run's rows together (`_per_run`)
            for table, columns in ((tags, ("key", "value")), (params, ("key", "value")), (metrics, _METRIC_COLUMNS))
        ),
    ]
    engine = sqlalchemy.create_engine(uri, poolclass=NullPool)  # one connection, closed after the read
    try:
        # The driver's own cursor: plain tuples, in a third of the time SQLAlchemy's rows take. Every value in
        # the queries is an int or a fixed word, so they are compiled with their values in place.
        texts = [str(query.compile(engine, compile_kwargs={"literal_binds": True})) for query in queries]
        connection = engine.raw_connection()
        try:
            cursor = connection.cursor()
            run_rows, tag_rows, param_rows, metric_rows = (_fetch(cursor, text) for text in texts)
        finally:
            connection.close()
    finally:
        engine.dispose()
    tags_of = _per_run(tag_rows, lambda rows: {key: value for _, key, value in rows})
    chosen = [row for row in run_rows if tags_of.get(row[0], {}).get(tag) == value]
    params_of = _per_run(param_rows, lambda rows: {key: value for _, key, value in rows})
    metrics_of = _per_run(metric_rows, _metrics)
    return [_entity(row, tags_of[row[0]], params_of.get(row[0], {}), metrics_of.get(row[0], [])) for row in chosen]


# The `runs` columns a `RunInfo` is made of, in the order `_entity` reads them; a latest metric's, `_metrics`'.
_RUN_COLUMNS = ("run_uuid", "name", "experiment_id", "user_id", "status", "start_time", "end_time", "lifecycle_stage", "artifact_uri")
_METRIC_COLUMNS = ("key", "value", "is_nan", "timestamp", "step")

Made = TypeVar("Made")


def _fetch(cursor: Any, text: str) -> list[tuple[Any, ...]]:
    cursor.execute(text)
    return cursor.fetchall()


def _per_run(rows: list[tuple[Any, ...]], make: Callable[[Iterator[tuple[Any, ...]]], Made]) -> dict[str, Made]:
    """Run id → what `make` makes of its rows (rows ordered by run id, the first column)."""
    return {run_id: make(group) for run_id, group in itertools.groupby(rows, operator.itemgetter(0))}


def _metrics(rows: Iterator[tuple[Any, ...]]) -> list[Metric]:
    """A run's latest metrics, as `SqlLatestMetric.to_mlflow_entity` reads them (a NaN is stored as 0 and a flag)."""
    from mlflow.entities import Metric

    return [Metric(key, math.nan if is_nan else value, timestamp, step) for _, key, value, is_nan, timestamp, step in rows]


def _entity(row: tuple[Any, ...], tags: dict[str, str], params: dict[str, str], metrics: list[Metric]) -> Run:
    """The `Run` entity of a `runs` row (`_RUN_COLUMNS`), as `SqlRun.to_mlflow_entity` makes it."""
    from mlflow.entities import Param, Run, RunData, RunInfo, RunTag
    from mlflow.utils.mlflow_tags import MLFLOW_RUN_NAME

    run_id, name, experiment_id, user_id, status, start_time, end_time, lifecycle_stage, artifact_uri = row
    info = RunInfo(
        run_id=run_id,
        run_name=name or tags.get(MLFLOW_RUN_NAME) or name,  # an unnamed run takes its name tag's, as in MLflow
        experiment_id=str(experiment_id),
        user_id=user_id,
        status=status,
        start_time=start_time,
        end_time=end_time,
        lifecycle_stage=lifecycle_stage,
        artifact_uri=artifact_uri,
    )
    data = RunData(
        metrics=metrics,
        params=[Param(key, value) for key, value in params.items()],
        tags=[RunTag(key, value) for key, value in tags.items()],
    )
    return Run(run_info=info, run_data=data)
