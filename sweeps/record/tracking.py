"""Writing a study's runs to MLflow: one experiment per study, one run per unique trial id, tagged as
`sweeps.record.store` reads them (the tag names and every read are its).

Every epoch's metrics go in one batched call (a REST `log_metric` costs ~50 ms each). `StudyRuns` sends
every write through one `Outbox`, which holds them in order while a tracking server is away.
Each trial run records `sweeps.code_hash`, the hash of the code that trains it (`trainables.code`),
each time it trains. A run trained again by `sweep run --rerun stale` is tagged `sweeps.superseded`
(`StudyRuns.supersede`) and keeps its data, but is no longer the trial's run.
"""

from __future__ import annotations

import functools
import itertools
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sweeps.config.locations import sqlite_path
from sweeps.config.sources import CHECKOUT, FROM_CHECKOUT
from sweeps.record.outbox import OutageLimits, Outbox
from sweeps.record.reachability import answers
from sweeps.record.store import best_trial, client_for, flatten, read_trial_config, search_all, status_of, superseded, trial_runs
from sweeps.record.tags import (
    CODE_HASH,
    DATA_SOURCE,
    DIVERGED_AT,
    ERROR,
    ERROR_FILE,
    GIT_DIRTY,
    GROUP,
    OFFLINE,
    OUTCOME,
    PARAMETERS,
    QUESTIONS,
    RUN_ROLE,
    SEARCH_ROLE,
    STOPPED_AT,
    STUDY,
    SUPERSEDED,
    TRIAL_ID,
    TRIAL_ROLE,
    answer_tags,
)
from sweeps.trials import PlannedTrial, Status
from trainables.code import trial_code_hash

if TYPE_CHECKING:  # imported late where used: mlflow costs seconds to import
    from mlflow.entities import Experiment, Param, Run
    from mlflow.tracking import MlflowClient

    from sweeps.record.store import StoredRun

Outcome = Literal["finished", "early_stopped", "failed", "diverged"]
# A diverged trial (a non-finite training loss) is FAILED: no reader that takes FINISHED runs as results
# (the report's tables, a stage's `select: best`, the MLflow UI's filters) can mistake it for one, and
# its outcome tag tells the plan that it is done all the same.
_OUTCOME_STATUS: dict[str, str] = {"finished": "FINISHED", "early_stopped": "KILLED", "failed": "FAILED", "diverged": "FAILED"}
# Tags that explain one way of ending; a run that later ends another way drops the stale ones.
_OUTCOME_DETAILS = (ERROR_FILE, ERROR, STOPPED_AT, DIVERGED_AT)
# MLflow's UI shows an experiment without this tag as a GenAI app (traces, prompts, judges); a study
# trains models, which MLflow calls custom model development.
EXPERIMENT_KIND = "mlflow.experimentKind"
MODEL_TRAINING = "custom_model_development"


class StudyRuns:
    """The study's experiment, opened for writing: creates, continues and closes trial runs.

    Writes go through an `Outbox` (held in order while a tracking server is away); a call whose answer
    the driver needs waits for the server, within `limits`.
    """

    def __init__(
        self,
        uri: str,
        study: str,
        limits: OutageLimits = OutageLimits(),
        notify: Callable[[str], None] = lambda line: None,
        known: Mapping[str, Any] | None = None,
    ) -> None:
        """`known`: the study's trial runs just read (`store.apply_statuses`); else they are read now."""
        path = sqlite_path(uri)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self.client = client_for(uri, create=True)
        self.study = study
        server = uri.startswith(("http://", "https://"))
        # A local store always answers, so a run may be created mid-study, when its trial starts training. A
        # server's runs are created up front: an id asked for mid-study would stop a grid during an outage
        # that the outbox otherwise rides out (writes held, hold_epochs), and MLflow cannot move a run's
        # start later (UpdateRun sets its status, end time and name only).
        self.opens_late = not server
        self._outbox = Outbox(uri, limits, functools.partial(answers, uri) if server else lambda: True, notify)
        experiment = self._outbox.call(lambda: self.client.get_experiment_by_name(study))
        if experiment is None:
            artifacts = (path.parent / "mlartifacts" / study).as_uri() if path is not None else None
            experiment = self._outbox.call(lambda: _create_experiment(self.client, study, artifacts))
        self.experiment_id = experiment.experiment_id
        if EXPERIMENT_KIND not in experiment.tags:  # a study recorded before the tag was set; a user's own kind stays
            self._outbox.send(lambda: self.client.set_experiment_tag(self.experiment_id, EXPERIMENT_KIND, MODEL_TRAINING))
        self._runs: dict[str, str] = {}
        self._read: dict[str, Any] = {}  # trial id → its run as `statuses` last read it
        if known is None:
            self.statuses()
        else:
            self._read = dict(known)
            self._runs = {trial_id: run.info.run_id for trial_id, run in known.items()}

    def open(
        self, trial: PlannedTrial, offline: bool, tags: Mapping[str, str] = {}, start_time: int | None = None
    ) -> tuple[str, int]:
        """The run of `trial` (created, or the interrupted one continued) and its last logged epoch
        (-1: none yet). `tags` are extra tags, such as the search run it belongs to; `start_time` (ms since
        the epoch) is a created run's start, when its trial started training (else now)."""
        run_id = self._runs.get(trial.id)
        code = trial_code_hash(trial.config)
        if run_id is not None:
            self.set_tags(run_id, {QUESTIONS: ",".join(trial.questions), CODE_HASH: code, **answer_tags(trial.questions)})
            self._outbox.send(lambda: self.client.update_run(run_id, status="RUNNING"))
            return run_id, self._outbox.call(lambda: _last_epoch(self.client, run_id))
        tags = {
            TRIAL_ID: trial.id,
            QUESTIONS: ",".join(trial.questions),
            **answer_tags(trial.questions),
            STUDY: self.study,
            RUN_ROLE: TRIAL_ROLE,
            GROUP: trial.group,
            **({DATA_SOURCE: source} if (source := trial.config["data"]["source"]) is not None else {}),  # a function's may be none
            OFFLINE: str(offline).lower(),
            PARAMETERS: str(trial.parameters),
            CODE_HASH: code,
            **_git_tags(),
            **tags,
        }
        attempts = itertools.count()  # the outbox calls again after a lost answer
        new_id = self._outbox.call(lambda: self._create_run(trial, tags, start_time, retried=next(attempts) > 0))
        self._runs[trial.id] = new_id
        params = _params(trial.config)
        self._outbox.send(lambda: self.client.log_batch(new_id, params=params))
        return new_id, -1

    def _create_run(self, trial: PlannedTrial, tags: dict[str, str], start_time: int | None, retried: bool) -> str:
        """A new run for `trial`; `retried` after a lost answer, it finds the run the server did create. (Only
        then: the search scans every trial run's tags, a cost per trial that grows with the study.)"""
        if retried:
            mine = f"tags.`{TRIAL_ID}` = '{trial.id}' and tags.`{RUN_ROLE}` = '{TRIAL_ROLE}'"
            found = search_all(self.client, [self.experiment_id], mine)
            created = next((run for run in found if not superseded(run)), None)  # a superseded run is the old code's
            if created is not None:
                return created.info.run_id
        return self.client.create_run(self.experiment_id, run_name=trial.name, tags=tags, start_time=start_time).info.run_id

    def backfill(self, run_id: str, logged: int, history: list[dict[str, Any]], epochs: int) -> int:
        """Epochs a trial's checkpoint holds but its run lacks (a kill between the two) are logged now;
        returns the run's last logged epoch.

        The last epoch is left to the trial: resumed, it always reports it again, with the test set.
        """
        missing = [epoch for epoch in history if logged < epoch["epoch"] < epochs]
        self.log_epochs(run_id, missing)
        return max([logged] + [int(epoch["epoch"]) for epoch in missing])

    def _search_parent(self, question: str) -> Run | None:
        """The current (not superseded) parent run of a question's search, if any."""
        found = search_all(self.client, [self.experiment_id], f"tags.`{RUN_ROLE}` = '{SEARCH_ROLE}' and tags.`{QUESTIONS}` = '{question}'")
        return next((run for run in found if not superseded(run)), None)

    def search_run(self, question: str) -> tuple[str, bool]:
        """The parent run of a question's search (created if new), and whether the search finished."""
        return self._outbox.call(lambda: self._search_run(question))

    def _search_run(self, question: str) -> tuple[str, bool]:
        found = self._search_parent(question)
        if found is not None:
            return found.info.run_id, found.info.status == "FINISHED"
        tags = {RUN_ROLE: SEARCH_ROLE, QUESTIONS: question, **answer_tags([question]), STUDY: self.study, **_git_tags()}
        return self.client.create_run(self.experiment_id, run_name=f"{question} search", tags=tags).info.run_id, False

    def search_done(self, question: str) -> bool:
        """Whether the question's search has finished (reading only: no parent run is created)."""
        found = self._outbox.call(lambda: self._search_parent(question))
        return found is not None and found.info.status == "FINISHED"

    def search_samples(self, question: str) -> tuple[Run | None, list[StoredRun]]:
        """The current parent run of a question's search and the current trial runs under it."""
        parent = self._search_parent(question)
        if parent is None:
            return None, []
        parent_id = parent.info.run_id
        runs = trial_runs(self.client, self.experiment_id).values()
        samples = [run for run in runs if run.data.tags.get("mlflow.parentRunId") == parent_id]
        return parent, samples

    def supersede(self, run_id: str) -> None:
        """`run_id` is no longer its trial's (or search's) run: tagged, kept, left out of every read."""
        self.set_tags(run_id, {SUPERSEDED: "true"})
        for trial_id, current in list(self._runs.items()):
            if current == run_id:
                del self._runs[trial_id]

    def current_run(self, trial_id: str) -> str | None:
        """The run id of the trial's current run, if it has one."""
        return self._runs.get(trial_id)

    def best_trial(self, question: str, metric: str, mode: str) -> StoredRun | None:
        """The finished trial run answering `question` with the best final `metric`; None if none yet."""
        return self._outbox.call(lambda: best_trial(self.client, self.experiment_id, question, metric, mode))

    def trial_config(self, run: StoredRun) -> dict[str, Any]:
        """A finished trial's resolved config, read back from its `config.yaml` artifact."""
        return self._outbox.call(lambda: read_trial_config(self.client.tracking_uri, run))

    def download(self, run_id: str, artifact_path: str, folder: str) -> Path:
        """One artifact of a run, downloaded into `folder`."""
        from mlflow.artifacts import download_artifacts

        return Path(
            self._outbox.call(
                lambda: download_artifacts(
                    run_id=run_id, artifact_path=artifact_path, dst_path=folder, tracking_uri=self.client.tracking_uri
                )
            )
        )

    def update_questions(self, trials: Iterable[PlannedTrial]) -> None:
        """A finished trial that a newly added question shares answers that question too."""
        listed = list(trials)
        self._outbox.call(lambda: self._update_questions(listed))

    def _update_questions(self, trials: list[PlannedTrial]) -> None:
        from mlflow.entities import RunTag

        for trial in trials:
            run = self._read.get(trial.id)  # as `statuses` last read them: no request per trial
            if run is not None:
                tagged = run.data.tags.get(QUESTIONS, "")
                merged = sorted(set(tagged.split(",")) - {""} | set(trial.questions))
                if merged != sorted(tagged.split(",")):
                    self.client.set_tag(run.info.run_id, QUESTIONS, ",".join(merged))
                missing = [RunTag(key, value) for key, value in answer_tags(merged).items() if key not in run.data.tags]
                if missing:  # a run recorded before the per-question tags
                    self.client.log_batch(run.info.run_id, tags=missing)

    def statuses(self) -> dict[str, Status]:
        """Trial id → status of its run, after every held write. The study's runs are read again: one that
        another `sweep run` created since this one started is the one `open` continues."""
        found = self._outbox.call(lambda: trial_runs(self.client, self.experiment_id))
        self._read = found
        self._runs = {trial_id: run.info.run_id for trial_id, run in found.items()}
        return {trial_id: status_of(run) for trial_id, run in found.items()}

    def log_epochs(self, run_id: str, epochs: Iterable[Mapping[str, Any]]) -> None:
        """One batched call: every numeric metric of each epoch, at step = epoch number."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [
            Metric(key, float(value), now, int(epoch["epoch"]))
            for epoch in epochs
            for key, value in epoch.items()
            if key != "epoch" and isinstance(value, (int, float)) and not isinstance(value, bool)
        ]
        if metrics:  # made once: a held batch sent twice is stored once (same timestamps)
            self._outbox.send(lambda: self.client.log_batch(run_id, metrics=metrics), epochs=len({m.step for m in metrics}))

    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> None:
        from mlflow.entities import RunTag

        listed = [RunTag(key, str(value)) for key, value in tags.items()]
        self._outbox.send(lambda: self.client.log_batch(run_id, tags=listed))

    def end_trial(
        self, run_id: str, outcome: Outcome, artifacts: Mapping[str, bytes | Path] = {}, details: Mapping[str, str] = {}
    ) -> None:
        """Tag the run with how its trial ended, log its artifacts (name → bytes, or a file to copy) and end it.

        finished → FINISHED; early_stopped (a search's scheduler; tags its `stopped_at_epoch`) → KILLED;
        failed (tags its `error_file`) and diverged (a non-finite loss; tags its `diverged_at_epoch`) →
        FAILED. An interrupted trial's run is `close`d KILLED instead, with no outcome: the next
        `sweep run` continues it. Tags of an earlier ending (a failure's error file) are removed.
        """
        self._outbox.send(lambda: self._drop_stale_details(run_id, details))
        self.set_tags(run_id, {OUTCOME: outcome, **details})
        if artifacts:
            self._outbox.send(lambda: self._log_artifacts(run_id, artifacts))
        self.close(run_id, _OUTCOME_STATUS[outcome])

    def _drop_stale_details(self, run_id: str, details: Mapping[str, str]) -> None:
        tagged = self.client.get_run(run_id).data.tags
        for key in _OUTCOME_DETAILS:
            if key in tagged and key not in details:  # an earlier failure's error file, on a trial that has now finished
                self.client.delete_tag(run_id, key)

    def _log_artifacts(self, run_id: str, artifacts: Mapping[str, bytes | Path]) -> None:
        with tempfile.TemporaryDirectory() as folder:
            for name, content in artifacts.items():
                target = Path(folder) / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(content if isinstance(content, bytes) else content.read_bytes())
            self.client.log_artifacts(run_id, folder)

    def close(self, run_id: str, status: str) -> None:
        self._outbox.send(lambda: self.client.set_terminated(run_id, status))

    def finish(self) -> None:
        """Every held write sent: waits for an away server up to the limits, else `TrackingAway`."""
        self._outbox.sync()

    def release(self) -> int:
        """One last try to send what is held, as the run ends on an error or an interruption; epochs still held."""
        return self._outbox.release()


def _create_experiment(client: MlflowClient, study: str, artifacts: str | None) -> Experiment:
    """The study's experiment, created; or the one another `sweep run` created a moment ago."""
    from mlflow.exceptions import MlflowException

    try:
        client.create_experiment(study, artifact_location=artifacts, tags={EXPERIMENT_KIND: MODEL_TRAINING})
    except MlflowException as error:
        if error.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    experiment = client.get_experiment_by_name(study)
    assert experiment is not None  # created just now, here or by the other `sweep run`
    return experiment


def _last_epoch(client: MlflowClient, run_id: str) -> int:
    """The last epoch logged (0 is an evaluation-only stage's), -1 if none."""
    history = client.get_metric_history(run_id, "val_acc")
    return max((metric.step for metric in history), default=-1)


def _params(config: Mapping[str, Any]) -> list[Param]:
    from mlflow.entities import Param

    return [Param(key, value) for key, value in flatten(config).items()]


@functools.lru_cache(maxsize=1)
def _git_tags() -> dict[str, str]:
    """The commit the configs and code came from (the evidence a result carries); none from an installed package."""
    if not FROM_CHECKOUT:
        return {}
    repo = CHECKOUT
    try:
        sha = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return {}
    return {"mlflow.source.git.commit": sha, GIT_DIRTY: str(bool(dirty)).lower()}
