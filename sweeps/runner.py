"""Running a plan's unfinished trials on Ray Tune, recording each in its MLflow run.

The driver owns MLflow (one writer for the store); each trial is a Ray Tune function trainable that
checkpoints every epoch into its trial-id folder, so a later `sweep run` resumes it from there.
"""

from __future__ import annotations

import csv
import functools
import io
import tempfile
import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import yaml
from ray import tune

from sweeps.errors import SweepError
from sweeps.checkpoints import checkpoint_dir, join, load_state, save_state
from sweeps.compose import Composer
from sweeps.plan import Plan, PlannedQuestion, PlannedTrial
from sweeps.tracking import StudyRuns, read_statuses
from trainables.errors import DataUnavailableError
from trainables.kinds import kind



@dataclass(frozen=True)
class RunSummary:
    planned: int  # unique trials in the plan
    ran: int  # trials this invocation started (finished ones are skipped)
    finished: int
    stopped: int  # early-stopped by a search's scheduler
    failed: int
    interrupted: bool


def run_plan(plan: Plan, out: TextIO = sys.stdout) -> RunSummary:
    """Grid trials first, then searches and stages in dependency order; stops at an interruption."""
    runs = StudyRuns(plan.runtime.tracking.uri, plan.study)
    runs.update_questions(trial for trial in plan.trials if trial.status == "finished")
    recorder = _Recorder(plan, runs, out)
    ray_started = False
    try:
        for phase in _phases(plan, runs, recorder, out):
            if not ray_started:
                ray_started = _start_ray(plan)
            phase()
            if recorder.interrupted():
                break
    finally:
        recorder.close_unfinished()
        if ray_started:
            import ray

            ray.shutdown()
    if not recorder.started():
        print(f"{plan.study}: all {len(plan.trials)} planned trials (and any searches and stages) are finished "
              f"in {plan.runtime.tracking.uri}; 0 trials to run.", file=out)
    return recorder.summary()


def _phases(plan: Plan, runs: StudyRuns, recorder: _Recorder, out: TextIO) -> Iterator[Callable[[], None]]:
    """Each phase that has work, lazily: a stage is resolved only once its source question is done."""
    from sweeps.search import run_search  # they use this module's fit and payload
    from sweeps.stages import resolve_stage

    pending = [trial for trial in plan.trials if trial.status != "finished"]
    if pending:
        yield functools.partial(_run_trials, plan, recorder, pending, None)
    composer: list[Composer] = []  # built once, when a search or stage first needs it

    def composed() -> Composer:
        if not composer:
            composer.append(Composer(plan.study, plan.overrides, plan.conf_dir))
        return composer[0]

    for question_id in plan.order:
        question = plan.question(question_id)
        if question.kind == "search":
            parent, done = runs.search_run(question_id)
            if not done:
                yield lambda q=question, p=parent: run_search(plan, q, composed(), recorder, p)
            register = _register_best(plan, runs, question, out)
            if done:
                register()
            else:
                yield register
        else:
            resolved = resolve_stage(plan, question, runs, composed())
            if resolved is None:
                print(f"{plan.study}: {question_id} waits for {question.depends_on[0]}: it has no finished trial yet.", file=out)
                continue
            trials, init_run = resolved
            statuses = read_statuses(plan.runtime.tracking.uri, plan.study)
            todo = [trial for trial in trials if statuses.get(trial.id) != "finished"]
            if todo:
                yield functools.partial(_run_trials, plan, recorder, todo, init_run)


def _register_best(plan: Plan, runs: StudyRuns, question: PlannedQuestion, out: TextIO) -> Callable[[], None]:
    def register() -> None:
        search = question.config.search
        assert search is not None
        best = runs.best_trial(question.id, search.metric, search.mode)
        if best is not None:
            name = runs.register_best(question.id, best, search.metric)
            print(f"{plan.study}: {question.id} best trial {best.data.tags['sweeps.trial_id']} "
                  f"({search.metric} {best.data.metrics[search.metric]:.4f}) is registered as model {name}.", file=out)

    return register


def prepare_data(plan: Plan) -> None:
    """Fetch or check every data set the unfinished trials use, once, before any trial starts."""
    sources = {
        trial.config["data"]["source"]: (trial.config["trainable"], trial.config["data"])
        for trial in plan.trials
        if trial.status != "finished"
    }
    for trainable, data in sources.values():
        try:
            kind(trainable).ensure_available(data, plan.runtime.paths.data_root)
        except (DataUnavailableError, ValueError) as error:  # missing files, or malformed ones
            raise SweepError(f"data.source={data['source']}: {error}") from None


def _start_ray(plan: Plan) -> bool:
    import ray

    if ray.is_initialized():
        return False
    resources = plan.runtime.resources
    if resources.address:
        ray.init(address=resources.address, logging_level="ERROR", log_to_driver=False)
    else:
        ray.init(num_cpus=resources.num_cpus, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    return True


def _run_trials(plan: Plan, recorder: _Recorder, trials: list[PlannedTrial], init_run: str | None) -> None:
    """Exactly `trials`, as one grid; a stage's start from the weights of MLflow run `init_run`."""
    recorder.begin(trials)
    init = _stage_weights(plan, init_run) if init_run else None
    fit(plan, recorder, {"trial": tune.grid_search([payload(plan, trial, init) for trial in trials])}, {})


def _stage_weights(plan: Plan, run_id: str) -> str:
    """The driver copies a stage's starting weights from MLflow into the shared storage, where every
    node's trials read them: workers never talk to MLflow, so its server can stay on loopback."""
    import torch
    from mlflow.artifacts import download_artifacts

    folder = checkpoint_dir(plan.runtime.paths.storage, plan.study, f"init-{run_id}")
    with tempfile.TemporaryDirectory() as local:
        path = download_artifacts(
            run_id=run_id, artifact_path="checkpoint/model.pt", dst_path=local, tracking_uri=plan.runtime.tracking.uri
        )
        save_state(folder, {"model": torch.load(path, map_location="cpu", weights_only=True)})
    return folder


def fit(plan: Plan, recorder: tune.Callback, param_space: dict[str, Any], options: dict[str, Any]) -> None:
    """One Ray Tune experiment: a grid of known trials, or a search's samples (`options`: its searcher)."""
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")  # MLflow is the record
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    resources = plan.runtime.resources
    trainable = tune.with_resources(_trial_main, {"cpu": resources.cpus_per_trial, "gpu": resources.gpus_per_trial})
    tuner = tune.Tuner(
        trainable,
        param_space=param_space,
        tune_config=tune.TuneConfig(
            # Local: ~0.1 s to start a trial instead of ~1 s. On a cluster a reused actor could take over a
            # trial whose own actor is already starting on another node, so there each trial keeps the
            # node its resources were reserved on.
            reuse_actors=resources.address is None,
            trial_name_creator=lambda trial: trial.config["trial"]["id"],
            trial_dirname_creator=lambda trial: trial.config["trial"]["id"],
            **options,
        ),
        run_config=tune.RunConfig(
            name=f"{plan.study}-{time.strftime('%Y%m%d-%H%M%S')}",
            storage_path=join(plan.runtime.paths.storage, plan.study, "ray"),
            callbacks=[recorder],
            failure_config=tune.FailureConfig(max_failures=0),
            verbose=0,
        ),
    )
    tuner.fit()


def payload(plan: Plan, trial: PlannedTrial, init: str | None = None, parent_run: str | None = None) -> dict[str, Any]:
    """What a trial's worker gets (and what the driver's recorder reads back about it)."""
    resources = plan.runtime.resources
    return {
        "id": trial.id,
        "config": trial.config,
        "planned": {"name": trial.name, "parameters": trial.parameters, "group": trial.group, "questions": trial.questions},
        "data_root": plan.runtime.paths.data_root,
        "checkpoint_dir": checkpoint_dir(plan.runtime.paths.storage, plan.study, trial.id),
        "threads": max(1, math.floor(resources.cpus_per_trial)),
        "gpu": resources.gpus_per_trial > 0,
        "channels_last": resources.channels_last,
        "init": init,  # a stage's starting weights: a folder in the shared storage (`_stage_weights`)
        "parent_run": parent_run,  # the search this trial is a sample of
    }


def _trial_main(params: Mapping[str, Any]) -> None:
    """One trial inside a Ray worker: train, checkpointing every epoch before reporting it."""
    import ray
    import torch

    from trainables.callback import EpochReport
    from trainables.placement import Placement
    from trainables.machine import machine_record

    payload = params["trial"]
    folder = payload["checkpoint_dir"]
    resume = load_state(folder) or (load_state(payload["init"]) if payload["init"] else None)
    extra: dict[str, Any] = {"machine": machine_record(), "node_id": ray.get_runtime_context().get_node_id()}
    if resume is not None and "history" in resume:
        extra["resumed_from_epoch"] = len(resume["history"])
    device = "cuda" if payload["gpu"] and torch.cuda.is_available() else "cpu"

    def on_epoch(report: EpochReport) -> None:
        save_state(folder, report.checkpoint())
        final = report.confusion_matrix is not None or report.epoch == payload["config"]["trainer"]["epochs"]
        result: dict[str, Any] = {**report.metrics, "metric_names": sorted(report.metrics), "final": final}
        if report.confusion_matrix is not None:
            result["confusion_matrix"] = report.confusion_matrix
        result.update(extra)
        extra.clear()  # the machine record, node and resume point travel with the first result only
        tune.report(result)

    placement = Placement(device=device, threads=payload["threads"], channels_last=payload["channels_last"])
    kind(payload["config"]["trainable"]).train(payload["config"], payload["data_root"], on_epoch, placement, resume)


class _Recorder(tune.Callback):
    """Ray Tune callback in the driver: one MLflow run per trial, and the live progress line."""

    def __init__(self, plan: Plan, runs: StudyRuns, out: TextIO) -> None:
        self._plan = plan
        self._runs = runs
        self._out = out
        self._trials: dict[str, PlannedTrial] = {}
        self._run_ids: dict[str, str] = {}
        self._logged: dict[str, int] = {}  # trial id → last epoch in MLflow (-1: none)
        self._final: set[str] = set()  # trials that reported their last epoch
        self._confusion: dict[str, list[list[int]]] = {}
        self._machine: dict[str, dict[str, str]] = {}
        self._running: set[str] = set()
        self._finished: set[str] = set()
        self._stopped: set[str] = set()  # early-stopped by a scheduler: not failures, not finished
        self._failed: set[str] = set()
        self._start = time.monotonic()
        self._last_print = 0.0
        self._epochs_todo = 0
        self._epochs_done = 0

    def begin(self, trials: list[PlannedTrial], tags: Mapping[str, str] = {}) -> None:
        """Open (or continue) the runs of trials about to run; print what runs."""
        for trial in trials:
            self._register(trial, tags)
        print(f"{self._plan.study}: running {len(trials)} trials; MLflow: {self._plan.runtime.tracking.uri}", file=self._out)

    def expect(self, trials: int, epochs: int) -> None:
        """A search's samples, for the ETA before they exist."""
        self._epochs_todo += trials * epochs

    def _register(self, trial: PlannedTrial, tags: Mapping[str, str] = {}) -> None:
        run_id, logged = self._runs.open(trial, self._plan.runtime.offline, tags)
        folder = checkpoint_dir(self._plan.runtime.paths.storage, self._plan.study, trial.id)
        epochs = trial.config["trainer"]["epochs"]
        logged = self._backfill(run_id, logged, load_state(folder), epochs)
        self._trials[trial.id] = trial
        self._run_ids[trial.id] = run_id
        self._logged[trial.id] = logged
        if not tags:  # a search's samples were expected in bulk
            self._epochs_todo += max(0, epochs - max(logged, 0))

    def _backfill(self, run_id: str, logged: int, state: dict[str, Any] | None, epochs: int) -> int:
        """Epochs checkpointed but not yet in MLflow (a kill between the two) are logged now.

        The last epoch is left to the trial: resumed, it always reports it again, with the test set.
        """
        history = (state or {}).get("history", [])
        missing = [epoch for epoch in history if logged < epoch["epoch"] < epochs]
        self._runs.log_epochs(run_id, missing)
        return max([logged] + [int(epoch["epoch"]) for epoch in missing])

    # --- tune.Callback hooks -------------------------------------------------------------------
    def on_trial_start(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        sent = trial.config["trial"]
        if sent["id"] not in self._run_ids:  # a search's sample: known only now
            planned = PlannedTrial(sent["id"], sent["config"], **sent["planned"])
            self._register(planned, {"mlflow.parentRunId": sent["parent_run"]})
        self._running.add(sent["id"])
        self._progress(force=True)

    def on_trial_result(self, iteration: int, trials: list[Any], trial: Any, result: dict[str, Any], **info: Any) -> None:
        trial_id = trial.config["trial"]["id"]
        run_id = self._run_ids[trial_id]
        if "machine" in result:
            self._machine[trial_id] = result["machine"]
            tags = {f"sys.{key}": value for key, value in result["machine"].items()}
            tags["sweeps.node_id"] = result["node_id"]  # the Ray node this (part of the) trial ran on
            if "resumed_from_epoch" in result:
                tags["sweeps.resumed_from_epoch"] = str(result["resumed_from_epoch"])
            self._runs.set_tags(run_id, tags)
        epoch = int(result["epoch"])
        if epoch > self._logged[trial_id]:
            self._runs.log_epochs(run_id, [{key: result[key] for key in result["metric_names"]}])
            self._logged[trial_id] = epoch
            self._epochs_done += 1
        if result["final"]:
            self._final.add(trial_id)
        if "confusion_matrix" in result:
            self._confusion[trial_id] = result["confusion_matrix"]
        self._progress()

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        trial_id = trial.config["trial"]["id"]
        folder = checkpoint_dir(self._plan.runtime.paths.storage, self._plan.study, trial_id)
        artifacts = _artifacts(self._trials[trial_id], folder, self._confusion.get(trial_id), self._machine.get(trial_id))
        if trial_id in self._final:
            self._runs.set_tags(self._run_ids[trial_id], {"sweeps.outcome": "finished"})
            self._runs.finish(self._run_ids[trial_id], artifacts)
            self._finished.add(trial_id)
        else:  # a scheduler (ASHA) stopped it: recorded as such, with the epoch it reached
            tags = {"sweeps.outcome": "early_stopped", "sweeps.stopped_at_epoch": str(self._logged[trial_id])}
            self._runs.set_tags(self._run_ids[trial_id], tags)
            self._runs.finish(self._run_ids[trial_id], artifacts, status="KILLED")
            self._stopped.add(trial_id)
        self._running.discard(trial_id)
        self._progress(force=True)

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        trial_id = trial.config["trial"]["id"]
        error = str(getattr(trial, "error_file", "") or "")
        self._runs.set_tags(self._run_ids[trial_id], {"sweeps.error_file": error, "sweeps.outcome": "failed"})
        self._runs.close(self._run_ids[trial_id], "FAILED")
        self._running.discard(trial_id)
        self._failed.add(trial_id)
        print(f"{self._plan.study}: trial {trial_id} ({self._trials[trial_id].name}) failed; see {error}", file=self._out)
        self._progress(force=True)

    # ---------------------------------------------------------------------------------------------
    def close_search(self, parent_run: str) -> None:
        self._runs.close(parent_run, "FINISHED")

    def started(self) -> bool:
        return bool(self._run_ids)

    def interrupted(self) -> bool:
        return bool(set(self._run_ids) - self._finished - self._stopped - self._failed)

    def close_unfinished(self) -> None:
        """Runs left open by an interruption are KILLED: `partial`, continued by the next run."""
        for trial_id in set(self._run_ids) - self._finished - self._stopped - self._failed:
            self._runs.close(self._run_ids[trial_id], "KILLED")

    def summary(self) -> RunSummary:
        if not self.started():
            return RunSummary(len(self._plan.trials), 0, 0, 0, 0, interrupted=False)
        interrupted = self.interrupted()
        verdict = "interrupted: run the same command again to resume" if interrupted else "done"
        stopped = f", {len(self._stopped)} stopped early" if self._stopped else ""
        print(
            f"{self._plan.study}: {len(self._finished)}/{len(self._run_ids)} trials finished{stopped}, "
            f"{len(self._failed)} failed in {_clock(time.monotonic() - self._start)}; {verdict}.",
            file=self._out,
        )
        return RunSummary(
            len(self._plan.trials), len(self._run_ids), len(self._finished), len(self._stopped), len(self._failed), interrupted
        )

    def _progress(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_print < 5.0:  # seconds between progress lines
            return
        self._last_print = now
        elapsed = now - self._start
        left = max(0, self._epochs_todo - self._epochs_done)
        eta = _clock(elapsed / self._epochs_done * left) if self._epochs_done else "?"
        print(
            f"[{self._plan.study}] {len(self._finished) + len(self._stopped)}/{len(self._run_ids)} trials done · "
            f"{len(self._running)} running · {len(self._failed)} failed · "
            f"elapsed {_clock(elapsed)} · ETA {eta}",
            file=self._out,
            flush=True,
        )


def _artifacts(
    trial: PlannedTrial, folder: str, confusion: list[list[int]] | None, machine: dict[str, str] | None
) -> dict[str, bytes | Path]:
    import torch

    artifacts: dict[str, bytes | Path] = {"config.yaml": yaml.safe_dump(trial.config, sort_keys=False).encode()}
    state = load_state(folder)
    if state is not None:
        weights = io.BytesIO()
        torch.save(state["model"], weights)  # loadable with torch.load(weights_only=True)
        artifacts["checkpoint/model.pt"] = weights.getvalue()
    if confusion is not None:
        table = io.StringIO()
        csv.writer(table).writerows([["true\\predicted", *range(len(confusion))]] + [[i, *row] for i, row in enumerate(confusion)])
        artifacts["confusion_matrix.csv"] = table.getvalue().encode()
    if machine is not None:
        artifacts["machine.json"] = json.dumps(machine, indent=2).encode()
    return artifacts


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}" if minutes >= 60 else f"{minutes}:{secs:02d}"
