"""What a study's MLflow store holds and how it is read: the tag names, which run is a trial's, its status,
its config.

One experiment per study, one run per unique trial id, found again by its tag (docs/contracts.md):
`sweeps.trial_id`, `sweeps.questions`, `sweeps.study`, `sweeps.kind`. Each trial run also records
`sweeps.code_hash`, the hash of the code that trains it (`trainables.code`), and its config as params
(`flatten`). A run trained again by `sweep run --rerun stale` is tagged `sweeps.superseded` and keeps its
data, but is no longer the trial's run: every read here leaves it out.

Trial runs are read by `role_runs`: from the tables of a store that is an SQL database (`table_read`,
whole, as `TableRun`s), else by MLflow's search, page after page (`search_all`, as MLflow's `Run`s); the
readers here take either (`StoredRun`). A SQLite store's experiment is found from its tables too, so
`sweep plan` of a study in one does not import MLflow (~2 s) unless it needs MLflow's client.

Nothing here writes a run or creates the experiment: `sweeps.record.tracking.StudyRuns` does. Only a writer's
`client_for(uri, create=True)` makes the store's lock file; MLflow creates a missing sqlite store when a
client opens it, so `find_experiment` (and every read by uri through it) checks `store_exists` first.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sweeps.config.locations import sqlite_path
from sweeps.record.table_read import TableRun, active_experiments, find_experiment_id, read_runs
from sweeps.record.tags import CODE_HASH, DIVERGED_AT, OUTCOME, QUESTIONS, RUN_ROLE, SUPERSEDED, TRIAL_ID, TRIAL_ROLE, answers
from sweeps.trials import Plan, PlannedTrial, Status
from trainables.code import trial_code_hash

# Runs (or experiments) asked for in one MLflow search request; every search here pages with
# `page_token` until the last page, so no count of runs is ever cut off. Tests lower it.
PAGE_SIZE = 1000


def search_all(client: Any, experiment_ids: list[str], filter_string: str) -> list[Any]:
    """Every run of `experiment_ids` matching `filter_string`, page after page."""
    found: list[Any] = []
    token = None
    while True:
        page = client.search_runs(experiment_ids, filter_string=filter_string, max_results=PAGE_SIZE, page_token=token)
        found += page
        token = page.token
        if not token:
            return found


def all_experiments(client: Any) -> list[Any]:
    """Every active experiment of the store, page after page."""
    found: list[Any] = []
    token = None
    while True:
        page = client.search_experiments(max_results=PAGE_SIZE, page_token=token)
        found += page
        token = page.token
        if not token:
            return found


def question_filter(question: str) -> str:
    """The MLflow search filter (the UI's search box) that selects exactly the runs answering `question`."""
    return f"tags.`{answers(question)}` = 'true'"


if TYPE_CHECKING:  # imported late where used: mlflow costs seconds to import
    from typing import TypeAlias

    from mlflow.entities import Run
    from mlflow.tracking import MlflowClient

    StoredRun: TypeAlias = Run | TableRun  # a run as MLflow's search or the store's tables give it

# MLflow's switch for workspaces (`MLFLOW_ENABLE_WORKSPACES`), in which an experiment's name is only unique
# within its workspace: with it on, experiments are found by MLflow's client.
_WORKSPACES = "MLFLOW_ENABLE_WORKSPACES"


class Reader:
    """A store opened for reading: its URI, and an MLflow client made only when a read needs one."""

    def __init__(self, uri: str, client: MlflowClient | None = None) -> None:
        self.uri = uri
        self._client = client

    @property
    def client(self) -> MlflowClient:
        if self._client is None:
            self._client = client_for(self.uri)
        return self._client


def reader_of(source: MlflowClient | Reader) -> Reader:
    return source if isinstance(source, Reader) else Reader(source.tracking_uri, source)


def store_exists(uri: str) -> bool:
    path = sqlite_path(uri)
    return path is None or path.exists()


def find_experiment(uri: str, study: str) -> tuple[Reader, str] | None:
    """A reader of the store and the study's experiment id; None when either does not exist (a missing
    sqlite store is not created). A SQLite store's experiment is found in its tables: the store was
    checked first (`sweeps.run.preflight.check_store`: an MLflow store of this MLflow's schema)."""
    if not store_exists(uri):
        return None
    reader = Reader(uri)
    if experiments_in_tables(uri):
        found = find_experiment_id(uri, study)
        return None if found is None else (reader, found)
    experiment = reader.client.get_experiment_by_name(study)
    return None if experiment is None else (reader, experiment.experiment_id)


def experiments_in_tables(uri: str) -> bool:
    """Whether the store's experiments are found from its tables: a SQLite store (which `sweep` checks before
    reading it: an MLflow store of this MLflow's schema) without MLflow's workspaces."""
    return sqlite_path(uri) is not None and os.environ.get(_WORKSPACES, "").lower() not in ("true", "1")


def study_experiments(reader: Reader) -> list[tuple[str, str]]:
    """Every active experiment of the store: its id and name."""
    if experiments_in_tables(reader.uri):
        return active_experiments(reader.uri)
    return [(experiment.experiment_id, experiment.name) for experiment in all_experiments(reader.client)]


def read_trial_runs(uri: str, study: str) -> dict[str, StoredRun]:
    """Trial id → its current run, reading only (a missing sqlite store is not created)."""
    found = find_experiment(uri, study)
    return {} if found is None else trial_runs(*found)


def apply_statuses(plan: Plan) -> dict[str, StoredRun]:
    """Fill each planned trial's status, outcome and code from the store (`mark_trial`); returns the runs
    read (trial id → its current run)."""
    runs = read_trial_runs(plan.runtime.tracking.uri, plan.study)
    for trial in plan.trials:
        mark_trial(trial, runs.get(trial.id))
    return runs


def mark_trial(trial: PlannedTrial, run: StoredRun | None) -> None:
    """The trial's status, outcome and code (stale: trained by other code than this checkout's) from its
    run; no run: `new`."""
    trial.status = "new" if run is None else status_of(run)
    trial.outcome = None if run is None else run.data.tags.get(OUTCOME)
    trial.diverged_at_epoch = diverged_at_epoch(run)
    trial.code_hash = None if run is None else run.data.tags.get(CODE_HASH)
    trial.stale = run is not None and trial.status == "finished" and is_stale(run, trial.config)


def is_stale(run: StoredRun, config: Mapping[str, Any] | None = None) -> bool:
    """Whether a trial's run was trained by other code than this checkout's (or by code not recorded);
    `config` is its trial's, else its params say which code trains it."""
    return run.data.tags.get(CODE_HASH) != trial_code_hash(config if config is not None else run.data.params)


def client_for(uri: str, create: bool = False) -> MlflowClient:
    """An MLflow client whose store is ready: MlflowClient opens its store, MLflow creates a new sqlite
    store's tables then, and two processes doing so at once collide (`table … already exists`), so on a
    sqlite store the client is made under an exclusive lock on `<store>.lock`. Only a writer (`create`)
    makes that file: readers wait on it when it exists, and otherwise write nothing."""
    from mlflow.tracking import MlflowClient  # imported late: mlflow costs seconds to import

    path = sqlite_path(uri)
    lock = path.with_name(f"{path.name}.lock") if path is not None else None
    if lock is None or not (create or lock.exists()):
        return MlflowClient(tracking_uri=uri)
    with open(lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released on close, or by the kernel if this process dies
        return MlflowClient(tracking_uri=uri)


def superseded(run: StoredRun) -> bool:
    return run.data.tags.get(SUPERSEDED) == "true"


def role_runs(source: MlflowClient | Reader, experiment_id: str, role: str) -> list[StoredRun]:
    """Every active run of the experiment with the role `role` (`sweeps.kind`), newest first: read from the
    store's tables where it is an SQL database (`table_read`: a 10,000-trial study in ~0.9 s, not ~23),
    else searched page after page."""
    reader = reader_of(source)
    found = read_runs(reader.uri, experiment_id, RUN_ROLE, role)
    return [*found] if found is not None else search_all(reader.client, [experiment_id], f"tags.`{RUN_ROLE}` = '{role}'")


def trial_runs(source: MlflowClient | Reader, experiment_id: str) -> dict[str, StoredRun]:
    """Trial id → its current run. Superseded runs (trained again after a code change) are left out.
    Were there ever two others (two drivers before leases), a finished one wins, then the one with the
    most epochs logged: a run holding only a tail of the epochs never stands for the trial. None is
    ever dropped from the store."""
    found: dict[str, list[StoredRun]] = {}
    for run in role_runs(source, experiment_id, TRIAL_ROLE):
        trial_id = run.data.tags.get(TRIAL_ID)
        if trial_id and not superseded(run):
            found.setdefault(trial_id, []).append(run)
    return {
        trial_id: runs[0] if len(runs) == 1 else max(runs, key=lambda run: (status_of(run) == "finished", _epochs(source, run)))
        for trial_id, runs in found.items()
    }


def status_of(run: StoredRun) -> Status:
    """The plan's status of a trial with this run: finished; diverged (done, never run again); or partial
    (running, killed, failed)."""
    if run.info.status == "FINISHED":
        return "finished"
    return "diverged" if run.data.tags.get(OUTCOME) == "diverged" else "partial"


def diverged_at_epoch(run: StoredRun | None) -> int | None:
    """The epoch at which a diverged trial's training loss stopped being finite; None for any other run."""
    return None if run is None or status_of(run) != "diverged" else int(run.data.tags.get(DIVERGED_AT, "0"))


def _epochs(source: MlflowClient | Reader, run: StoredRun) -> int:
    """How many epochs a run logged."""
    return len(reader_of(source).client.get_metric_history(run.info.run_id, "val_acc"))


def best_trial(source: MlflowClient | Reader, experiment_id: str, question: str, metric: str, mode: str) -> StoredRun | None:
    """The finished trial run answering `question` with the best final `metric`; None if none yet.

    Early-stopped trials (KILLED) and failures never count: only runs trained to their end.
    """
    answering = [
        run for run in role_runs(source, experiment_id, TRIAL_ROLE)
        if run.info.status == "FINISHED" and not superseded(run)
        and question in run.data.tags.get(QUESTIONS, "").split(",") and metric in run.data.metrics
    ]  # fmt: skip
    if not answering:
        return None
    sign = 1.0 if mode == "max" else -1.0
    return max(answering, key=lambda run: sign * run.data.metrics[metric])


def read_trial_config(uri: str, run: StoredRun) -> dict[str, Any]:
    """A finished trial's resolved config, read back from its `config.yaml` artifact (into a temporary folder)."""
    import yaml
    from mlflow.artifacts import download_artifacts

    with tempfile.TemporaryDirectory() as folder:
        path = download_artifacts(
            run_id=run.info.run_id, artifact_path="config.yaml", dst_path=folder, tracking_uri=uri
        )
        return yaml.safe_load(Path(path).read_text())


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested config → {"optim.lr": "0.01", "model.layers": "[...json...]"}."""
    flat: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value if isinstance(value, str) else json.dumps(value)
    return flat


def unflatten(params: Mapping[str, str]) -> dict[str, Any]:
    """A run's params back to the nested config `flatten` made them from (a string that reads as JSON,
    such as "1", comes back as that JSON value: params do not record which values were strings)."""
    config: dict[str, Any] = {}
    for name, text in params.items():
        *parents, leaf = name.split(".")
        node = config
        for part in parents:
            node = node.setdefault(part, {})
        try:
            node[leaf] = json.loads(text)
        except ValueError:
            node[leaf] = text
    return config
