"""Running a plan: the order of its phases, each a Ray Tune experiment recorded in MLflow.

Grid trials run first, then searches and stages in dependency order (a stage is resolved only once
the question it starts from is done). The driver owns MLflow (one writer for the store); each trial
checkpoints every epoch into its trial-id folder, so a later `sweep run` resumes it from there.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from typing import TextIO

from sweeps.compose import Composer
from sweeps.errors import SweepError
from sweeps.experiment import fit, grid, start_ray
from sweeps.outbox import OutageLimits
from sweeps.pending import warn_if_no_node_fits
from sweeps.plan import Plan, PlannedQuestion, PlannedTrial
from sweeps.recorder import Recorder, RunSummary
from sweeps.search import run_search
from sweeps.stages import resolve_stage, stage_weights
from sweeps.tracking import StudyRuns
from trainables.errors import DataUnavailableError
from trainables.kinds import kind


def run_plan(plan: Plan, out: TextIO = sys.stdout) -> RunSummary:
    """Every phase that has work, in order; stops at an interruption."""
    tracking = plan.runtime.tracking
    runs = StudyRuns(tracking.uri, plan.study, OutageLimits(tracking.hold_epochs, tracking.wait_seconds), _notify(plan, out))
    runs.update_questions(trial for trial in plan.trials if trial.status == "finished")
    recorder = Recorder(plan, runs, out)
    ray_started = False
    try:
        for phase in _phases(plan, runs, recorder, out):
            if not ray_started:
                ray_started = start_ray(plan)
                warn_if_no_node_fits(plan, sys.stderr)
            phase()
            if recorder.interrupted():
                break
    finally:
        recorder.close_unfinished()
        if ray_started:
            import ray

            ray.shutdown()
        runs.release()  # on an error or an interruption: one last try, without waiting
    if not recorder.interrupted():
        runs.finish()  # a server away at the end: wait for it (within tracking.wait_seconds)
    if not recorder.started():
        print(f"{plan.study}: all {len(plan.trials)} planned trials (and any searches and stages) are finished "
              f"in {plan.runtime.tracking.uri}; 0 trials to run.", file=out)
    return recorder.summary()


def _phases(plan: Plan, runs: StudyRuns, recorder: Recorder, out: TextIO) -> Iterator[Callable[[], None]]:
    """Each phase that has work, lazily: a stage is resolved only once its source question is done."""
    pending = [trial for trial in plan.trials if trial.status != "finished"]
    if pending:
        yield lambda: _run_trials(plan, recorder, pending, None)
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
                yield lambda q=question, p=parent: run_search(plan, q, composed(), recorder, p, out)
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
            statuses = runs.statuses()
            todo = [trial for trial in trials if statuses.get(trial.id) != "finished"]
            if todo:
                yield lambda t=todo, r=init_run: _run_trials(plan, recorder, t, stage_weights(plan, runs, r))


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


def _notify(plan: Plan, out: TextIO) -> Callable[[str], None]:
    return lambda line: print(f"{plan.study}: {line}", file=out, flush=True)


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


def _run_trials(plan: Plan, recorder: Recorder, trials: list[PlannedTrial], init: str | None) -> None:
    """Exactly `trials`, as one grid; a stage's start from `init` (weights in the shared storage)."""
    recorder.begin(trials)
    fit(plan, recorder, grid(plan, trials, init), {})
