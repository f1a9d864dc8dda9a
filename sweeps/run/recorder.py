"""The driver's Ray Tune callback: one MLflow run per trial, written through `sweeps.record.tracking`.

Workers report each epoch through Ray; this callback opens (or continues) the trial's run, logs each
epoch once, and ends the run with how the trial ended — finished, stopped early by a search's
scheduler, diverged (a non-finite training loss), failed, or (on an interruption) left for the next
`sweep run` to continue. A worker that dies is retried from its last checkpoint into the same run
(`resources.max_failures` times); each failure is one line, its traceback stays in Tune's error file.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from ray import tune

from sweeps.record.checkpoints import checkpoint_dir, load_state, read_state, read_weights, take_failure
from sweeps.record.tags import CONTINUED_FROM, DIVERGED_AT, ERROR, ERROR_FILE, NODE_ID, RESUMED_FROM, RETRIES, STOPPED_AT
from sweeps.record.tracking import StudyRuns
from sweeps.run.console import Console
from sweeps.run.leases import Leases, Owner
from sweeps.run.payload import MemberPayload, PackPayload
from sweeps.run.worker import DIVERGED, MEMBER, STARTED_AT
from sweeps.trials import Plan, PlannedTrial
from sweeps.words import clock, plural

if TYPE_CHECKING:
    from ray.tune.experiment import Trial


@dataclass(frozen=True)
class RunSummary:
    planned: int  # unique trials in the plan
    ran: int  # trials this invocation started (finished ones are skipped)
    finished: int
    stopped: int  # early-stopped by a search's scheduler
    failed: int
    interrupted: bool
    diverged: int = 0  # a non-finite training loss: done, recorded as such
    skipped: int = 0  # held by another `sweep run` of the study


class Recorder(tune.Callback):
    """One MLflow run per trial, and the events of the run's console."""

    def __init__(self, plan: Plan, runs: StudyRuns, console: Console, leases: Leases) -> None:
        self._plan = plan
        self._runs = runs
        self._console = console
        self._leases = leases
        self._trials: dict[str, PlannedTrial] = {}  # every trial this run registered
        self._run_ids: dict[str, str] = {}  # trial id → its MLflow run, once it has one
        self._unopened: dict[str, dict[str, str]] = {}  # a fresh trial → the tags its run gets when it starts training
        self._logged: dict[str, int] = {}  # trial id → last epoch in MLflow (-1: none)
        self._final: set[str] = set()  # trials that reported their last epoch
        self._confusion: dict[str, list[list[int]]] = {}
        self._machine: dict[str, dict[str, str]] = {}
        self._running: set[str] = set()
        self._finished: set[str] = set()
        self._stopped: set[str] = set()  # early-stopped by a scheduler: not failures, not finished
        self._failed: set[str] = set()
        self._diverged: dict[str, int] = {}  # trial id → the epoch whose training loss was not finite
        self._handed_over: set[str] = set()  # trials whose lease another driver took (this one was paused)
        self.skipped = 0  # trials and searches another `sweep run` holds

    def skip(self, name: str, holder: Owner) -> None:
        """A trial (or search) that another `sweep run` is running: one line, and not touched here."""
        self.skipped += 1
        self._console.note(f"{name}: running in another sweep ({holder.describe()}), skipped")

    def begin(self, trials: list[PlannedTrial], phase: str) -> None:
        """Open (or continue) the runs of known trials about to run (`phase`: the grid, or a stage); say what runs."""
        self._console.expect(phase, len(trials), 1)
        if not trials:  # every one held by another sweep (each said so), or finished by it meanwhile
            return
        for trial in trials:
            self._register(trial, phase)
        what = "" if phase == "grid" else f"{phase}: "
        self._console.note(
            f"{self._plan.study}: {what}running {plural(len(trials), 'trial')}; MLflow: {self._plan.runtime.tracking.uri}"
        )

    def _register(self, trial: PlannedTrial, phase: str, tags: Mapping[str, str] = {}) -> int:
        """The trial's run continued, with the epochs its checkpoint holds backfilled; its last logged epoch.

        A fresh trial (no run, no checkpoint) in a local store gets its run when it starts training (`_run_of`),
        so that MLflow's start time, and the UI's Duration, leave out its wait in Tune's queue; on a tracking
        server it is opened now (`StudyRuns.opens_late` says why).
        """
        read = read_state(self._folder(trial.id))
        state = read.state or {}
        for unreadable in read.unreadable:
            resumes = f"resuming after epoch {len(state['history'])}" if "history" in state else "starting again from epoch 1"
            self._console.note(f"{trial.name}: checkpoint {unreadable} is unreadable; {resumes} in the same run")
        self._trials[trial.id] = trial
        if self._runs.opens_late and self._runs.current_run(trial.id) is None and not state.get("history"):
            self._unopened[trial.id] = dict(tags)
            logged = -1
        else:
            run_id, logged = self._runs.open(trial, self._plan.runtime.offline, tags)
            logged = self._runs.backfill(run_id, logged, state.get("history", []), trial.config["trainer"]["epochs"])
            self._run_ids[trial.id] = run_id
        self._logged[trial.id] = logged
        self._console.add(trial.id, trial.name, trial.config["trainer"]["epochs"], logged, phase)
        return logged

    def _run_of(self, trial_id: str, started_at: int | None = None) -> str:
        """The trial's run; a fresh trial's is created now, started at `started_at` (ms since the epoch, the
        time its worker started it), else now."""
        if trial_id not in self._run_ids:
            tags = self._unopened.pop(trial_id)
            run_id, _ = self._runs.open(self._trials[trial_id], self._plan.runtime.offline, tags, start_time=started_at)
            self._run_ids[trial_id] = run_id
        return self._run_ids[trial_id]

    def _folder(self, trial_id: str) -> str:
        return checkpoint_dir(self._plan.runtime.paths.storage, self._plan.study, trial_id)

    # --- tune.Callback hooks -------------------------------------------------------------------
    def on_trial_start(self, iteration: int, trials: list[Trial], trial: Trial, **info: Any) -> None:
        for member in _members(trial):
            if member["id"] not in self._trials:  # a search's sample: known only now
                planned = PlannedTrial(member["id"], member["config"], **member["planned"])
                assert member["parent_run"] is not None  # a grid's trials were all registered before it started
                self._register(planned, planned.questions[0], {"mlflow.parentRunId": member["parent_run"]})
            self._running.add(member["id"])
            self._console.start(member["id"])

    def on_trial_result(self, iteration: int, trials: list[Trial], trial: Trial, result: dict[str, Any], **info: Any) -> None:
        trial_id = result[MEMBER]
        if trial_id in self._leases.lost:  # the driver that took it over writes its run now
            return
        run_id = self._run_of(trial_id, result.get(STARTED_AT))
        if "machine" in result:
            self._machine[trial_id] = result["machine"]
            tags = {f"sys.{key}": value for key, value in result["machine"].items()}
            tags[NODE_ID] = result["node_id"]  # the Ray node this (part of the) trial ran on
            if "resumed_from_epoch" in result:
                tags[RESUMED_FROM] = str(result["resumed_from_epoch"])
            if "continued_from" in result:
                tags[CONTINUED_FROM] = result["continued_from"]
            self._runs.set_tags(run_id, tags)
        epoch = int(result["epoch"])
        if epoch > self._logged[trial_id] + 1:  # epochs it started with (a shorter trial's): from its checkpoint
            history = result.get("history", [])  # sent with the first result of a resumed or continued trial
            self._logged[trial_id] = self._runs.backfill(run_id, self._logged[trial_id], history, epoch)
        if epoch > self._logged[trial_id]:
            self._runs.log_epochs(run_id, [{key: result[key] for key in result["metric_names"]}])
            self._logged[trial_id] = epoch
        self._console.epoch(trial_id, epoch, result.get("val_acc"))
        if result["final"]:
            self._final.add(trial_id)
        if result.get(DIVERGED):
            self._diverged[trial_id] = epoch
        if "confusion_matrix" in result:
            self._confusion[trial_id] = result["confusion_matrix"]

    def on_trial_complete(self, iteration: int, trials: list[Trial], trial: Trial, **info: Any) -> None:
        for member in _members(trial):
            self._end(member["id"], error=None)

    def on_trial_error(self, iteration: int, trials: list[Trial], trial: Trial, **info: Any) -> None:
        error = str(getattr(trial, "error_file", "") or "")
        for member in _members(trial):
            self._end(member["id"], error=error)

    def on_trial_recover(self, iteration: int, trials: list[Trial], trial: Trial, **info: Any) -> None:
        """Its worker failed (a crash, a killed process, a lost node) and Tune starts it again: it resumes
        from its last checkpoint, into the same run."""
        failures = trial.run_metadata.num_failures
        for member in _members(trial):
            trial_id = member["id"]
            if trial_id not in self._trials:  # a search's sample that failed before it ever started
                continue
            if trial_id in self._unopened:  # failed before its first epoch: its run, when opened, says so
                self._unopened[trial_id][RETRIES] = str(failures)
            else:
                self._runs.set_tags(self._run_ids[trial_id], {RETRIES: str(failures)})
            self._console.note(
                f"{self._trials[trial_id].name}: its worker failed (failure {failures} of at most "
                f"{self._plan.runtime.resources.max_failures}; see {trial.error_file}); retrying from its checkpoint "
                f"after epoch {max(self._logged[trial_id], 0)}"
            )

    def stopper(self) -> tune.Stopper:
        """Stops a trial whose lease another driver took over (this one was paused past the heartbeat's limit)."""
        return _TakenOver(self._leases.lost)

    def _end(self, trial_id: str, error: str | None) -> None:
        """End a member's run: finished if it reported its last epoch, diverged, else failed (`error`) or
        stopped early; not at all if another driver took it over."""
        self._running.discard(trial_id)
        if trial_id in self._leases.lost:
            self._handed_over.add(trial_id)
            self._console.note(f"{self._trials[trial_id].name}: taken over by another sweep while this one was paused; left to it")
            return
        run_id = self._run_of(trial_id)  # one that ends before its first epoch (a failure) gets its run now
        failure = None if trial_id in self._final else take_failure(self._folder(trial_id))
        if failure is not None:  # its training function broke its contract: one line, recorded once
            self._runs.end_trial(run_id, "failed", details={ERROR: failure})
            self._failed.add(trial_id)
            self._console.end(trial_id, "failed")
            self._console.note(f"{self._plan.study}: trial {trial_id} ({self._trials[trial_id].name}) failed: {failure}")
            return
        if trial_id in self._diverged:
            artifacts = trial_artifacts(self._trials[trial_id], self._folder(trial_id), None, self._machine.get(trial_id))
            self._runs.end_trial(run_id, "diverged", artifacts, details={DIVERGED_AT: str(self._diverged[trial_id])})
            self._console.end(trial_id, "diverged")
            return
        if trial_id not in self._final and error is not None:
            self._runs.end_trial(run_id, "failed", details={ERROR_FILE: error})
            self._failed.add(trial_id)
            self._console.end(trial_id, "failed")
            self._console.note(f"{self._plan.study}: trial {trial_id} ({self._trials[trial_id].name}) failed; see {error}")
            return
        artifacts = trial_artifacts(
            self._trials[trial_id], self._folder(trial_id), self._confusion.get(trial_id), self._machine.get(trial_id)
        )
        if trial_id in self._final:
            self._runs.end_trial(run_id, "finished", artifacts)
            self._finished.add(trial_id)
            self._console.end(trial_id, "finished")
        else:  # a scheduler (ASHA) stopped it: recorded as such, with the epoch it reached
            self._runs.end_trial(run_id, "early_stopped", artifacts, details={STOPPED_AT: str(self._logged[trial_id])})
            self._stopped.add(trial_id)
            self._console.end(trial_id, "early_stopped")

    # ---------------------------------------------------------------------------------------------
    def close_search(self, parent_run: str) -> None:
        self._runs.close(parent_run, "FINISHED")

    def finished_ids(self) -> set[str]:
        """The trials this invocation trained to their last epoch and closed as finished."""
        return set(self._finished)

    def started(self) -> bool:
        return bool(self._trials)

    def interrupted(self) -> bool:
        return bool(self._unfinished())

    def _unfinished(self) -> set[str]:
        return set(self._trials) - self._finished - self._stopped - self._failed - set(self._diverged) - self._handed_over

    def close_unfinished(self) -> None:
        """Runs left open by an interruption are KILLED: `partial`, continued by the next run."""
        for trial_id in self._unfinished() & set(self._run_ids):  # one that never started training has no run
            self._runs.close(self._run_ids[trial_id], "KILLED")

    def summary(self) -> RunSummary:
        skipped = self.skipped + len(self._handed_over)
        elsewhere = f"; {skipped} left to another sweep of this study" if skipped else ""
        if not self.started():
            if skipped:
                self._console.note(f"{self._plan.study}: 0 trials run here{elsewhere}.")
            return RunSummary(len(self._plan.trials), 0, 0, 0, 0, interrupted=False, skipped=skipped)
        interrupted = self.interrupted()
        verdict = "interrupted: run the same command again to resume" if interrupted else "done"
        stopped = f", {len(self._stopped)} stopped early" if self._stopped else ""
        diverged = f", {len(self._diverged)} diverged" if self._diverged else ""
        self._console.note(
            f"{self._plan.study}: {len(self._finished)}/{plural(len(self._trials), 'trial')} finished{stopped}{diverged}, "
            f"{len(self._failed)} failed in {clock(self._console.progress.elapsed())}{elsewhere}; {verdict}."
        )
        return RunSummary(
            len(self._plan.trials),
            len(self._trials),
            len(self._finished),
            len(self._stopped),
            len(self._failed),
            interrupted,
            len(self._diverged),
            skipped,
        )


class _TakenOver(tune.Stopper):
    """Tune's stopper for trials in `lost` (the leases' live set: Tune pickles a copy with its experiment state)."""

    def __init__(self, lost: set[str]) -> None:
        self._lost = lost

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        return result.get(MEMBER) in self._lost

    def stop_all(self) -> bool:
        return False


def _members(trial: Trial) -> list[MemberPayload]:
    """The member trials' payloads of a Ray trial (`sweeps.run.experiment.pack_payload`)."""
    pack: PackPayload = trial.config["pack"]
    return list(pack["members"])


def trial_artifacts(
    trial: PlannedTrial, folder: str, confusion: list[list[int]] | None, machine: dict[str, str] | None
) -> dict[str, bytes | Path]:
    """A trial run's files: its resolved config, final weights, test-set confusion matrix and machine record."""
    artifacts: dict[str, bytes | Path] = {"config.yaml": yaml.safe_dump(trial.config, sort_keys=False).encode()}
    weights = read_weights(folder)  # the worker wrote them after the trial's last epoch
    if weights is None:  # stopped early by a scheduler: the weights of its last checkpoint
        weights = _checkpointed_weights(folder)
    if weights is not None:
        artifacts["checkpoint/model.pt"] = weights  # loadable with torch.load(weights_only=True)
    if confusion is not None:
        table = io.StringIO()
        csv.writer(table).writerows([["true\\predicted", *range(len(confusion))]] + [[i, *row] for i, row in enumerate(confusion)])
        artifacts["confusion_matrix.csv"] = table.getvalue().encode()
    if machine is not None:
        artifacts["machine.json"] = json.dumps(machine, indent=2).encode()
    return artifacts


def _checkpointed_weights(folder: str) -> bytes | None:
    """The weights of the last checkpoint in `folder`, as a model.pt file's bytes (None: no checkpoint)."""
    state = load_state(folder)
    if state is None or "model" not in state:  # none, or a training function's that keeps no weights
        return None
    import torch  # only here: a finished trial's weights come as a file (sweeps.record.checkpoints.WEIGHTS)

    weights = io.BytesIO()
    torch.save(state["model"], weights)
    return weights.getvalue()
