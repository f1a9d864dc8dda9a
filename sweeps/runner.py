"""Running a plan: the order of its phases, each a Ray Tune experiment recorded in MLflow.

Grid trials run first, then searches and stages in dependency order (a stage is resolved only once
the question it starts from is done). The driver owns MLflow (one writer for the store); each trial
checkpoints every epoch into its trial-id folder, so a later `sweep run` resumes it from there.
Before a trial's run is opened, or a search started, the driver takes its lease (`sweeps.leases`):
another `sweep run` of the study that is training it keeps it, and this one skips it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from typing import TextIO

from sweeps.compose import Composer
from sweeps.errors import SweepError
from sweeps.experiment import fit, grid, start_ray
from sweeps.leases import Leases
from sweeps.plan import DONE, Plan, PlannedQuestion, PlannedTrial
from sweeps.recorder import Recorder, RunSummary
from sweeps.search import run_search
from sweeps.stages import resolve_stage, stage_weights
from sweeps.tracking import StudyRuns
from trainables.errors import DataUnavailableError
from trainables.kinds import kind


def run_plan(plan: Plan, out: TextIO = sys.stdout) -> RunSummary:
    """Every phase that has work, in order; stops at an interruption."""
    runs = StudyRuns(plan.runtime.tracking.uri, plan.study)
    runs.update_questions(trial for trial in plan.trials if trial.status == "finished")
    leases = Leases(plan.runtime.paths.storage, plan.study)
    recorder = Recorder(plan, runs, leases, out)
    ray_started = False
    try:
        for phase in _phases(plan, runs, recorder, leases, out):
            if not ray_started:
                ray_started = start_ray(plan)
            phase()
            if recorder.interrupted():
                break
    finally:
        recorder.close_unfinished()
        leases.close()  # after the runs are closed: a driver that takes over finds them KILLED, to continue
        if ray_started:
            import ray

            ray.shutdown()
    if not recorder.started() and not recorder.skipped:
        print(f"{plan.study}: all {len(plan.trials)} planned trials (and any searches and stages) are done "
              f"in {plan.runtime.tracking.uri}; 0 trials to run.", file=out)
    return recorder.summary()


def _phases(
    plan: Plan, runs: StudyRuns, recorder: Recorder, leases: Leases, out: TextIO
) -> Iterator[Callable[[], None]]:
    """Each phase that has work, lazily: a stage is resolved only once its source question is done."""
    pending = [trial for trial in plan.trials if trial.status not in DONE]
    if pending:
        yield lambda: _run_trials(plan, runs, recorder, leases, pending, None)
    composer: list[Composer] = []  # built once, when a search or stage first needs it

    def composed() -> Composer:
        if not composer:
            composer.append(Composer(plan.study, plan.overrides, plan.conf_dir))
        return composer[0]

    for question_id in plan.order:
        question = plan.question(question_id)
        if question.kind == "search":
            search = _search(plan, runs, recorder, leases, question, composed, out)
            if runs.search_done(question_id):
                search()  # only registers its best trial: no Ray needed
            else:
                yield search
        else:
            resolved = resolve_stage(plan, question, runs, composed())
            if resolved is None:
                print(f"{plan.study}: {question_id} waits for {question.depends_on[0]}: it has no finished trial yet.", file=out)
                continue
            trials, init_run = resolved
            statuses = runs.refresh()
            todo = [trial for trial in trials if statuses.get(trial.id) not in DONE]
            if todo:
                yield lambda t=todo, r=init_run: _run_trials(plan, runs, recorder, leases, t, stage_weights(plan, r))


def _search(
    plan: Plan,
    runs: StudyRuns,
    recorder: Recorder,
    leases: Leases,
    question: PlannedQuestion,
    composed: Callable[[], Composer],
    out: TextIO,
) -> Callable[[], None]:
    """A search question under its lease: run to its end unless it already was, then its best registered."""

    def search() -> None:
        unit = f"search-{question.id}"
        holder = leases.claim(unit)
        if holder is not None:
            recorder.skip(f"{question.id} search", holder)
            return
        if not runs.search_done(question.id):
            run_search(plan, question, composed(), recorder, runs.search_run(question.id), out)
            if recorder.interrupted():
                return  # the lease is released once `run_plan` has closed the samples' runs
        _register_best(plan, runs, question, out)
        leases.release(unit)

    return search


def _register_best(plan: Plan, runs: StudyRuns, question: PlannedQuestion, out: TextIO) -> None:
    search = question.config.search
    assert search is not None
    best = runs.best_trial(question.id, search.metric, search.mode)
    if best is not None:
        name = runs.register_best(question.id, best, search.metric)
        print(f"{plan.study}: {question.id} best trial {best.data.tags['sweeps.trial_id']} "
              f"({search.metric} {best.data.metrics[search.metric]:.4f}) is registered as model {name}.", file=out)


def prepare_data(plan: Plan) -> None:
    """Fetch or check every data set the unfinished trials use, once, before any trial starts."""
    sources = {
        trial.config["data"]["source"]: (trial.config["trainable"], trial.config["data"])
        for trial in plan.trials
        if trial.status not in DONE
    }
    for trainable, data in sources.values():
        try:
            kind(trainable).ensure_available(data, plan.runtime.paths.data_root)
        except (DataUnavailableError, ValueError) as error:  # missing files, or malformed ones
            raise SweepError(f"data.source={data['source']}: {error}") from None


def _run_trials(
    plan: Plan, runs: StudyRuns, recorder: Recorder, leases: Leases, trials: list[PlannedTrial], init: str | None
) -> None:
    """`trials` this driver holds the leases of, as one grid; a stage's start from `init` (weights in the
    shared storage). The leases are released when the grid ends; interrupted, only once `run_plan` has
    closed the runs."""
    mine = _claim(runs, recorder, leases, trials)
    try:
        if mine:
            recorder.begin(mine)
            fit(plan, recorder, grid(plan, mine, init), {})
    finally:
        if not recorder.interrupted():
            for trial in mine:
                leases.release(trial.id)


def _claim(runs: StudyRuns, recorder: Recorder, leases: Leases, trials: list[PlannedTrial]) -> list[PlannedTrial]:
    """The trials whose leases this driver took, less those another sweep finished since the plan was read
    (the study's runs are read again: one that another sweep created since is continued, not duplicated)."""
    mine = []
    for trial in trials:
        holder = leases.claim(trial.id)
        if holder is None:
            mine.append(trial)
        else:
            recorder.skip(trial.name, holder)
    statuses = runs.refresh() if mine else {}
    for trial in [trial for trial in mine if statuses.get(trial.id) in DONE]:
        leases.release(trial.id)
        mine.remove(trial)
    return mine
