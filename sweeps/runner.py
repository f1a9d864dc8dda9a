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
from sweeps.console import Console, open_console
from sweeps.errors import SweepError
from sweeps.experiment import fit, grid, start_ray
from sweeps.model_registry import register_best
from sweeps.outbox import OutageLimits
from sweeps.pending import warn_if_no_node_fits
from sweeps.plan import Plan, PlannedQuestion, PlannedTrial
from sweeps.recorder import Recorder, RunSummary
from sweeps.search import run_search
from sweeps.stages import resolve_stage, stage_weights
from sweeps.progress import plural
from sweeps.rerun import retire_search, retire_stale_trials, retire_trial, stale_search
from sweeps.tracking import StudyRuns, is_stale, read_trial_runs
from trainables.errors import DataUnavailableError
from trainables.kinds import kind


def run_plan(plan: Plan, out: TextIO = sys.stdout, rerun_stale: bool = False) -> RunSummary:
    """Every phase that has work, in order; stops at an interruption. Progress on `out`: live on a terminal.

    `rerun_stale`: finished trials (and searches) trained by other code are trained again (`sweeps.rerun`);
    without it they are kept, and the run says how many.
    """
    tracking = plan.runtime.tracking
    with open_console(plan.study, out) as console:
        limits = OutageLimits(tracking.hold_epochs, tracking.wait_seconds)
        runs = StudyRuns(tracking.uri, plan.study, limits, lambda line: console.note(f"{plan.study}: {line}"))
        runs.update_questions(trial for trial in plan.trials if trial.status == "finished")
        recorder = Recorder(plan, runs, console)
        ray_started = False
        try:
            for phase in _phases(plan, runs, recorder, console, rerun_stale):
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
        print(f"{plan.study}: all {plural(len(plan.trials), 'planned trial')} (and any searches and stages) are finished "
              f"in {plan.runtime.tracking.uri}; 0 trials to run.", file=out)
    return recorder.summary()


def _phases(
    plan: Plan, runs: StudyRuns, recorder: Recorder, console: Console, rerun_stale: bool
) -> Iterator[Callable[[], None]]:
    """Each phase that has work, lazily: a stage is resolved only once its source question is done.

    The console is told up front what each phase will run (a search its samples, a stage its
    variants), so the run's totals are known before the first trial starts.
    """
    _stale_first(plan, runs, console, rerun_stale)
    pending = [trial for trial in plan.trials if trial.status != "finished"]
    composer: list[Composer] = []  # built once, when a search or stage first needs it

    def composed() -> Composer:
        if not composer:
            composer.append(Composer(plan.study, plan.overrides, plan.conf_dir))
        return composer[0]

    _expect(plan, runs, console, pending, composed)
    if pending:
        yield lambda: _run_trials(plan, recorder, pending, None, "grid")
    for question_id in plan.order:
        question = plan.question(question_id)
        if question.kind == "search":
            parent, done = runs.search_run(question_id)
            if not done:
                yield lambda q=question, p=parent: run_search(plan, q, composed(), recorder, p, console.out)
            register = _register_best(plan, runs, question, console)
            if done:
                register()
            else:
                yield register
        else:
            resolved = resolve_stage(plan, question, runs, composed())
            if resolved is None:
                console.expect(question_id, 0, 1)
                console.note(f"{plan.study}: {question_id} waits for {question.depends_on[0]}: it has no finished trial yet.")
                continue
            trials, init_run = resolved
            todo = _stage_todo(plan, runs, trials, rerun_stale)
            console.expect(question_id, len(todo), 1)
            if todo:
                yield lambda t=todo, r=init_run, q=question_id: _run_trials(plan, recorder, t, stage_weights(plan, runs, r), q)


def _stale_first(plan: Plan, runs: StudyRuns, console: Console, rerun_stale: bool) -> None:
    """With `rerun_stale`, retire the stale grid trials and searches now; without, say they are kept."""
    if not rerun_stale:
        stale = sum(trial.stale for trial in plan.trials)
        if stale:
            console.note(
                f"{plan.study}: {plural(stale, 'finished trial')} trained by other code (stale) "
                f"{'is' if stale == 1 else 'are'} kept; `sweep run --rerun stale` trains {'it' if stale == 1 else 'them'} again."
            )
        return
    retired = retire_stale_trials(plan, runs, plan.trials)
    if retired:
        console.note(f"{plan.study}: {plural(len(retired), 'stale trial')} will be trained again into new runs.")
    for question_id in plan.order:
        found = stale_search(runs, question_id) if plan.question(question_id).kind == "search" else None
        if found is not None:
            retire_search(plan, runs, *found)
            console.note(f"{plan.study}: {question_id}'s search has stale samples: it searches again.")


def _stage_todo(plan: Plan, runs: StudyRuns, trials: list[PlannedTrial], rerun_stale: bool) -> list[PlannedTrial]:
    """A stage's trials without a finished run; with `rerun_stale`, the stale ones too (retired now)."""
    current = read_trial_runs(plan.runtime.tracking.uri, plan.study)
    todo = []
    for trial in trials:
        run = current.get(trial.id)
        if run is not None and run.info.status == "FINISHED":
            if not (rerun_stale and is_stale(run, trial.config.get("trainable", "image"))):
                continue
            retire_trial(plan, runs, trial.id)
        todo.append(trial)
    return todo


def _expect(
    plan: Plan, runs: StudyRuns, console: Console, pending: list[PlannedTrial], composed: Callable[[], Composer]
) -> None:
    """What every phase will run, as far as it is known before any starts (`sweeps.progress`)."""
    console.expect("grid", len(pending), 1)  # its trials, registered when the grid begins, count exactly
    searched: dict[str, int] = {}  # a search question → its samples' epochs
    for question_id in plan.order:
        config = plan.question(question_id).config
        if config.search is not None:
            epochs = int(composed().variant(config.search.fixed, f"{question_id}.search.fixed")[0].trainer.epochs)
            searched[question_id] = epochs
            if not runs.search_done(question_id):
                console.expect(question_id, config.search.num_samples, epochs)
        elif config.from_ is not None:  # resolved later; until then each variant counts as one trial
            epochs = searched.get(config.from_.question, int(composed().baseline.trainer.epochs)) if config.train else 0
            console.expect(question_id, len(plan.question(question_id).variants), epochs)


def _register_best(plan: Plan, runs: StudyRuns, question: PlannedQuestion, console: Console) -> Callable[[], None]:
    def register() -> None:
        search = question.config.search
        assert search is not None
        best = runs.best_trial(question.id, search.metric, search.mode)
        if best is None:
            return
        trial = f"{question.id} best trial {best.data.tags['sweeps.trial_id']} ({search.metric} {best.data.metrics[search.metric]:.4f})"
        try:
            name = register_best(runs, question.id, best, search.metric, plan.runtime.paths.data_root)
        except (ValueError, DataUnavailableError) as error:  # a kind without a network; its data gone
            console.note(f"{plan.study}: {trial} is not registered: {error}")
            return
        console.note(f"{plan.study}: {trial} is registered as model {name} (an MLflow PyTorch model).")

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


def _run_trials(plan: Plan, recorder: Recorder, trials: list[PlannedTrial], init: str | None, phase: str) -> None:
    """Exactly `trials`, as one grid (`phase`: the grid, or a stage); a stage's start from `init` (weights in the shared storage)."""
    recorder.begin(trials, phase)
    fit(plan, recorder, grid(plan, trials, init), {})
