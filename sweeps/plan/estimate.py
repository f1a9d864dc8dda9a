"""What `sweep run` would cost on this machine, from the seconds earlier runs in the store took.

A trial to run is matched with the finished trial runs of any study in the store that trained the
same model (its layers and sizes, `model.*` less its name and dropout rates) on the same data
(`data.*`, less its name, normalisation and download flag) at the same batch size: what an epoch
costs depends on those, not on the learning rate, a dropout rate or the seed.
Runs on this machine (the same CPU model and count, a GPU or none as the trial will have, from the
runs' `sys.*` tags) are preferred; when there are none, runs from other machines are used and the
estimate says so. A match gives the median seconds per epoch (`epoch_seconds + eval_seconds` of the
last epoch) and per trial outside its epochs (`phase_data_load_seconds`, `phase_build_seconds`,
`phase_test_seconds`).

The estimate is the sum over the grid's trials to run (new ones, and the epochs a partial one has
left), divided by the trials that run at a time (`resources`). Searches and stages whose trials are
not known yet are named, not estimated. Reading only: nothing is written and no Ray is started.
"""

from __future__ import annotations

import json
import math
import os
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sweeps.machine import machine_gpus
from sweeps.record.store import (
    Reader,
    client_for,
    find_experiment,
    flatten,
    role_runs,
    search_all,
    store_exists,
    study_experiments,
    superseded,
)
from sweeps.record.table_read import is_database
from sweeps.record.tags import QUESTIONS, RUN_ROLE, SEARCH_ROLE, TRIAL_ROLE
from sweeps.trials import DONE, Plan, PlannedTrial
from sweeps.words import clock, plural
from trainables.kinds import trainable_of

if TYPE_CHECKING:  # imported late where used: mlflow costs seconds to import
    from sweeps.record.store import StoredRun

# data.* keys that do not change what an epoch costs.
_DATA_NOT_COST = {"data.name", "data.standin", "data.download", "data.mean", "data.std", "data.note"}
_MODEL_NOT_COST = {"model.name", "model.note", "model.dropout"}
_OVERHEAD = ("phase_data_load_seconds", "phase_build_seconds", "phase_test_seconds")


@dataclass(frozen=True)
class TrialCost:
    trial_id: str
    epochs: int  # left to train (an evaluation-only trial: 0)
    seconds: float | None  # None: no earlier run matches
    machine: str | None  # "this" or "other": where the matching runs ran
    runs: int  # how many earlier runs it is the median of


@dataclass(frozen=True)
class Estimate:
    trials: list[TrialCost]  # the grid's trials `sweep run` would run
    stale: list[TrialCost]  # finished but stale: what `--rerun stale` would add
    parallel: int  # trials at a time
    not_estimated: list[str] = field(default_factory=list)  # searches and stages still to run

    @property
    def seconds(self) -> float | None:
        """Wall-clock seconds of the estimated trials, `parallel` at a time; None if none is estimated."""
        return _wall(self.trials, self.parallel)

    @property
    def stale_seconds(self) -> float | None:
        return _wall(self.stale, self.parallel)

    @property
    def unestimated(self) -> list[str]:
        return [cost.trial_id for cost in self.trials if cost.seconds is None]

    @property
    def machine(self) -> str | None:
        """"this" if every estimated trial matched runs of this machine, "other" if any did not."""
        machines = {cost.machine for cost in self.trials + self.stale if cost.seconds is not None}
        return None if not machines else ("this" if machines == {"this"} else "other")

    def to_json(self) -> dict[str, Any]:
        """The `estimate` key of `sweep plan --json`."""
        return {
            "seconds": self.seconds,
            "machine": self.machine,
            "parallel": self.parallel,
            "trials": len(self.trials),
            "estimated": len(self.trials) - len(self.unestimated),
            "unestimated": self.unestimated,
            "stale_trials": len(self.stale),
            "stale_seconds": self.stale_seconds,
            "not_estimated": self.not_estimated,
        }

    def describe(self) -> str:
        """One line for `sweep plan`."""
        if not self.trials and not self.stale:
            line = "estimate: nothing to train in the grid"
        elif self.trials and self.seconds is None:
            line = (
                f"estimate: no estimate for {plural(len(self.trials), 'trial')} "
                "(no earlier run with the same model, data and batch size)"
            )
        else:
            where = "this machine" if self.machine == "this" else "runs on another machine"
            estimated = len(self.trials) - len(self.unestimated)
            which = plural(len(self.trials), "trial") if not self.unestimated else f"{estimated} of {plural(len(self.trials), 'trial')}"
            line = f"estimate: about {clock(self.seconds or 0.0)} for {which} (from {where}, {self.parallel} at a time)"
            if self.unestimated:
                line += (
                    f"; {plural(len(self.unestimated), 'trial')}: no estimate "
                    "(no earlier run with the same model, data and batch size)"
                )
        if self.stale:
            more = f"about {clock(self.stale_seconds)} more" if self.stale_seconds is not None else "no estimate"
            line += f"; --rerun stale: {plural(len(self.stale), 'stale trial')}, {more}"
        if self.not_estimated:
            line += f"; not estimated: {', '.join(self.not_estimated)}"
        return line


def estimate_plan(plan: Plan, study_runs: Mapping[str, Any] | None = None) -> Estimate:
    """The estimate for `plan` (statuses applied) from its store's earlier runs. `study_runs`: the study's trial
    runs as `complete_plan` just read them (trial id → run); else they are read again if needed."""
    costed = [trial for trial in plan.trials if trial.status not in DONE or trial.stale]
    runs = _finished_trial_runs(plan, study_runs) if costed else []  # a finished study reads no runs
    here = _this_machine()
    gpu = plan.runtime.resources.gpus_per_trial > 0
    by_key: dict[tuple[Any, ...], list[StoredRun]] = {}
    for run in runs:
        by_key.setdefault(cost_key(run.data.params), []).append(run)
    partial = _epochs_logged(plan, [trial for trial in plan.trials if trial.status == "partial"], study_runs)

    rates: dict[str, _Rate | None] = {}  # by group: repeats differ only in seed, which costs nothing

    def cost(trial: PlannedTrial, epochs: int) -> TrialCost:
        if trial.group not in rates:
            rates[trial.group] = _rate(by_key.get(cost_key(flatten(trial.config)), []), here, gpu)
        rate = rates[trial.group]
        if rate is None:
            return TrialCost(trial.id, epochs, None, None, 0)
        return TrialCost(trial.id, epochs, rate.overhead + epochs * rate.per_epoch, rate.machine, rate.runs)

    todo = [cost(trial, _epochs_left(trial, partial.get(trial.id, 0))) for trial in plan.trials if trial.status not in DONE]
    stale = [cost(trial, trial.config["trainer"]["epochs"]) for trial in plan.trials if trial.status == "finished" and trial.stale]
    return Estimate(todo, stale, _parallel(plan), _not_estimated(plan))


@dataclass(frozen=True)
class _Rate:
    """What the matching runs say a trial costs: seconds outside its epochs, seconds per epoch."""

    overhead: float
    per_epoch: float
    machine: str  # "this", or "other" when no run of this machine matches
    runs: int


def _rate(matches: list[Any], here: Mapping[str, str], gpu: bool) -> _Rate | None:
    """The median cost of the runs matching a trial (this machine's if any); None without one."""
    local = [run for run in matches if _same_machine(run.data.tags, here, gpu)]
    chosen = local or matches
    per_epoch = [value for value in map(_epoch_seconds, chosen) if value is not None]
    if not per_epoch:
        return None
    overhead = statistics.median([sum(run.data.metrics.get(key, 0.0) for key in _OVERHEAD) for run in chosen])
    return _Rate(overhead, statistics.median(per_epoch), "this" if local else "other", len(per_epoch))


def cost_key(params: Mapping[str, str]) -> tuple[Any, ...]:
    """What an epoch's cost depends on, from a run's params (or a trial config flattened the same way).

    The model counts as its layers and sizes; dropout probabilities do not change what it computes
    (Q5's five dropout rates cost the same), nor do its name and note.
    """
    kept = []
    for key, value in sorted(params.items()):
        if key.startswith("model.") and key not in _MODEL_NOT_COST:
            kept.append((key, _without_dropout_rates(value) if key == "model.layers" else value))
        elif key.startswith("data.") and key not in _DATA_NOT_COST:
            kept.append((key, value))
    return (trainable_of(params), params.get("trainer.batch_size"), tuple(kept))


def _without_dropout_rates(layers: str) -> str:
    try:
        parsed = json.loads(layers)
    except ValueError:
        return layers
    if not isinstance(parsed, list):
        return layers
    stripped = [{k: v for k, v in layer.items() if k != "p"} if isinstance(layer, dict) else layer for layer in parsed]
    return json.dumps(stripped, sort_keys=True)


def _epoch_seconds(run: StoredRun) -> float | None:
    metrics = run.data.metrics
    if "epoch_seconds" not in metrics:
        return None  # an evaluation-only run
    return metrics["epoch_seconds"] + metrics.get("eval_seconds", 0.0)


def _epochs_left(trial: PlannedTrial, logged: int) -> int:
    return max(0, int(trial.config["trainer"]["epochs"]) - max(logged, 0))


def _wall(costs: Iterable[TrialCost], parallel: int) -> float | None:
    known = [cost.seconds for cost in costs if cost.seconds is not None]
    if not known:
        return None
    # `parallel` at a time, but never shorter than the longest trial.
    return max(sum(known) / max(parallel, 1), max(known))


def _parallel(plan: Plan) -> int:
    """Trials at a time on this machine: its CPUs (and GPUs) over each trial's share."""
    resources = plan.runtime.resources
    cpus = resources.local_cpus
    slots = max(1, math.floor(cpus / resources.cpus_per_trial))
    if resources.gpus_per_trial > 0:
        slots = min(slots, max(1, math.floor(machine_gpus() / resources.gpus_per_trial)))
    return slots



def _this_machine() -> dict[str, str]:
    from trainables.machine import cpu_model

    return {"cpu": cpu_model(), "cpu_count": str(os.cpu_count())}


def _same_machine(tags: Mapping[str, str], here: Mapping[str, str], gpu: bool) -> bool:
    had_gpu = tags.get("sys.gpu", "none") != "none"
    return tags.get("sys.cpu") == here["cpu"] and tags.get("sys.cpu_count") == here["cpu_count"] and had_gpu == gpu


def _finished_trial_runs(plan: Plan, study_runs: Mapping[str, StoredRun] | None) -> list[StoredRun]:
    """Every finished, current trial run of every study in the store (reading only). With `study_runs` (the
    study's own, just read) only the other studies' runs are read: a large study is not read twice."""
    if not store_exists(plan.runtime.tracking.uri):
        return []
    reader = Reader(plan.runtime.tracking.uri)
    known = plan.study if study_runs is not None else None
    others = [found for found, name in study_experiments(reader) if name != known]
    if is_database(reader.uri):  # each study's runs from the tables
        runs = [run for found in others for run in role_runs(reader, found, TRIAL_ROLE)]
    else:  # a server: one search of every other study's finished runs
        runs = search_all(reader.client, others, f"tags.`{RUN_ROLE}` = '{TRIAL_ROLE}' and attributes.status = 'FINISHED'") if others else []
    own = [run for run in (study_runs or {}).values() if run.info.status == "FINISHED"]
    return [run for run in runs if run.info.status == "FINISHED" and not superseded(run)] + own


def _epochs_logged(plan: Plan, partial: list[PlannedTrial], study_runs: Mapping[str, Any] | None) -> dict[str, int]:
    """The last epoch each partial trial's run logged."""
    if not partial:
        return {}
    from sweeps.record.store import read_trial_runs

    client = client_for(plan.runtime.tracking.uri)
    runs = study_runs if study_runs is not None else read_trial_runs(plan.runtime.tracking.uri, plan.study)
    logged = {}
    for trial in partial:
        run = runs.get(trial.id)
        if run is not None:
            history = client.get_metric_history(run.info.run_id, "val_acc")
            logged[trial.id] = max((metric.step for metric in history), default=0)
    return logged


def _not_estimated(plan: Plan) -> list[str]:
    """Searches that have not finished, and the stages whose source has not: what `sweep run` also runs."""
    done = _finished_searches(plan)
    unfinished = {question for trial in plan.trials if trial.status not in DONE for question in trial.questions}
    pending: set[str] = set()
    names = []
    for question_id in plan.order:
        config = plan.question(question_id).config
        if config.search is not None and question_id not in done:
            names.append(f"{question_id} (search)")
            pending.add(question_id)
        elif config.from_ is not None and (config.from_.question in pending or config.from_.question in unfinished):
            names.append(f"{question_id} (stage)")
            pending.add(question_id)
    return names


def _finished_searches(plan: Plan) -> set[str]:
    found = find_experiment(plan.runtime.tracking.uri, plan.study)
    if found is None:
        return set()
    parents = role_runs(*found, SEARCH_ROLE)
    return {run.data.tags.get(QUESTIONS, "") for run in parents if run.info.status == "FINISHED" and not superseded(run)}
