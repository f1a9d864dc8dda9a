"""Running a plan's unfinished trials on Ray Tune, recording each in its MLflow run.

The driver owns MLflow (one writer for the store); each trial is a Ray Tune function trainable that
checkpoints every epoch into its trial-id folder, so a later `sweep run` resumes it from there.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import yaml
from ray import tune

from sweeps.errors import SweepError
from sweeps.checkpoints import checkpoint_dir, join, load_state, save_state
from sweeps.plan import Plan, PlannedTrial
from sweeps.tracking import StudyRuns
from trainables.data import DataUnavailableError, ensure_available



@dataclass(frozen=True)
class RunSummary:
    planned: int  # unique trials in the plan
    ran: int  # trials this invocation started (finished ones are skipped)
    finished: int
    failed: int
    interrupted: bool


def run_plan(plan: Plan, out: TextIO = sys.stdout) -> RunSummary:
    runs = StudyRuns(plan.runtime.tracking.uri, plan.study)
    runs.update_questions(trial for trial in plan.trials if trial.status == "finished")
    pending = [trial for trial in plan.trials if trial.status != "finished"]
    if not pending:
        print(f"{plan.study}: all {len(plan.trials)} trials are finished in {plan.runtime.tracking.uri}; 0 trials to run.", file=out)
        return RunSummary(len(plan.trials), 0, 0, 0, interrupted=False)
    recorder = _Recorder(plan, runs, pending, out)
    started_ray = _start_ray(plan)
    try:
        _fit(plan, pending, recorder)
    finally:
        recorder.close_unfinished()
        if started_ray:
            import ray

            ray.shutdown()
    return recorder.summary()


def prepare_data(plan: Plan) -> None:
    """Fetch or check every torchvision data set the unfinished trials use, once, before any starts."""
    sources = {
        trial.config["data"]["source"]: trial.config["data"] for trial in plan.trials if trial.status != "finished"
    }
    for data in sources.values():
        try:
            ensure_available(data, plan.runtime.paths.data_root)
        except DataUnavailableError as error:
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


def _fit(plan: Plan, pending: list[PlannedTrial], recorder: _Recorder) -> None:
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")  # MLflow is the record
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    resources = plan.runtime.resources
    payloads = [_payload(plan, trial) for trial in pending]
    trainable = tune.with_resources(_trial_main, {"cpu": resources.cpus_per_trial, "gpu": resources.gpus_per_trial})
    tuner = tune.Tuner(
        trainable,
        param_space={"trial": tune.grid_search(payloads)},
        tune_config=tune.TuneConfig(
            # Local: ~0.1 s to start a trial instead of ~1 s. On a cluster a reused actor could take over a
            # trial whose own actor is already starting on another node, so there each trial keeps the
            # node its resources were reserved on.
            reuse_actors=resources.address is None,
            trial_name_creator=lambda trial: trial.config["trial"]["id"],
            trial_dirname_creator=lambda trial: trial.config["trial"]["id"],
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


def _payload(plan: Plan, trial: PlannedTrial) -> dict[str, Any]:
    resources = plan.runtime.resources
    return {
        "id": trial.id,
        "config": trial.config,
        "data_root": plan.runtime.paths.data_root,
        "checkpoint_dir": checkpoint_dir(plan.runtime.paths.storage, plan.study, trial.id),
        "threads": max(1, math.floor(resources.cpus_per_trial)),
        "gpu": resources.gpus_per_trial > 0,
        "channels_last": resources.channels_last,
    }


def _trial_main(params: Mapping[str, Any]) -> None:
    """One trial inside a Ray worker: train, checkpointing every epoch before reporting it."""
    import ray
    import torch

    from trainables.loop import EpochReport, Placement, train
    from trainables.machine import machine_record

    payload = params["trial"]
    folder = payload["checkpoint_dir"]
    resume = load_state(folder)
    extra: dict[str, Any] = {"machine": machine_record(), "node_id": ray.get_runtime_context().get_node_id()}
    if resume is not None:
        extra["resumed_from_epoch"] = len(resume["history"])
    device = "cuda" if payload["gpu"] and torch.cuda.is_available() else "cpu"

    def on_epoch(report: EpochReport) -> None:
        save_state(folder, report.checkpoint())
        result: dict[str, Any] = {**report.metrics, "metric_names": sorted(report.metrics)}
        if report.confusion_matrix is not None:
            result["confusion_matrix"] = report.confusion_matrix
        result.update(extra)
        extra.clear()  # the machine record, node and resume point travel with the first result only
        tune.report(result)

    placement = Placement(device=device, threads=payload["threads"], channels_last=payload["channels_last"])
    train(payload["config"], payload["data_root"], on_epoch, placement, resume)


class _Recorder(tune.Callback):
    """Ray Tune callback in the driver: MLflow runs and the live progress line."""

    def __init__(self, plan: Plan, runs: StudyRuns, pending: list[PlannedTrial], out: TextIO) -> None:
        self._plan = plan
        self._runs = runs
        self._out = out
        self._run_ids: dict[str, str] = {}
        self._logged: dict[str, int] = {}  # trial id → last epoch in MLflow
        self._confusion: dict[str, list[list[int]]] = {}
        self._machine: dict[str, dict[str, str]] = {}
        self._running: set[str] = set()
        self._finished: set[str] = set()
        self._failed: set[str] = set()
        self._interrupted = False
        self._start = time.monotonic()
        self._last_print = 0.0
        self._epochs_todo = 0
        self._epochs_done = 0
        for trial in pending:
            run_id, logged = runs.open(trial, plan.runtime.offline)
            folder = checkpoint_dir(plan.runtime.paths.storage, plan.study, trial.id)
            logged = self._backfill(run_id, logged, load_state(folder), trial.config["trainer"]["epochs"])
            self._run_ids[trial.id] = run_id
            self._logged[trial.id] = logged
            self._epochs_todo += trial.config["trainer"]["epochs"] - logged
        print(
            f"{plan.study}: running {len(pending)} of {len(plan.trials)} trials "
            f"({len(plan.trials) - len(pending)} already finished); MLflow: {plan.runtime.tracking.uri}",
            file=out,
        )

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
        self._running.add(trial.config["trial"]["id"])
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
        if "confusion_matrix" in result:
            self._confusion[trial_id] = result["confusion_matrix"]
        self._progress()

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        trial_id = trial.config["trial"]["id"]
        planned = self._plan.trial(trial_id)
        folder = checkpoint_dir(self._plan.runtime.paths.storage, self._plan.study, trial_id)
        self._runs.finish(self._run_ids[trial_id], _artifacts(planned, folder, self._confusion.get(trial_id), self._machine.get(trial_id)))
        self._running.discard(trial_id)
        self._finished.add(trial_id)
        self._progress(force=True)

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        trial_id = trial.config["trial"]["id"]
        error = str(getattr(trial, "error_file", "") or "")
        self._runs.set_tags(self._run_ids[trial_id], {"sweeps.error_file": error})
        self._runs.close(self._run_ids[trial_id], "FAILED")
        self._running.discard(trial_id)
        self._failed.add(trial_id)
        print(f"{self._plan.study}: trial {trial_id} ({self._plan.trial(trial_id).name}) failed; see {error}", file=self._out)
        self._progress(force=True)

    def on_experiment_end(self, trials: list[Any], **info: Any) -> None:
        self._interrupted = len(self._finished) + len(self._failed) < len(self._run_ids)

    # ---------------------------------------------------------------------------------------------
    def close_unfinished(self) -> None:
        """Runs left open by an interruption are KILLED: `partial`, continued by the next run."""
        for trial_id, run_id in self._run_ids.items():
            if trial_id not in self._finished and trial_id not in self._failed:
                self._runs.close(run_id, "KILLED")
                self._interrupted = True

    def summary(self) -> RunSummary:
        done = len(self._finished)
        pending = len(self._run_ids)
        verdict = "interrupted: run the same command again to resume" if self._interrupted else "done"
        print(
            f"{self._plan.study}: {done}/{pending} trials finished, {len(self._failed)} failed "
            f"in {_clock(time.monotonic() - self._start)}; {verdict}.",
            file=self._out,
        )
        return RunSummary(len(self._plan.trials), pending, done, len(self._failed), self._interrupted)

    def _progress(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_print < 5.0:  # seconds between progress lines
            return
        self._last_print = now
        elapsed = now - self._start
        left = self._epochs_todo - self._epochs_done
        eta = _clock(elapsed / self._epochs_done * left) if self._epochs_done else "?"
        print(
            f"[{self._plan.study}] {len(self._finished)}/{len(self._run_ids)} trials done · "
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
