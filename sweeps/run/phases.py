"""Running a plan: the order of its phases, each a Ray Tune experiment recorded in MLflow.

Grid trials run first, then searches and stages in dependency order (a stage is resolved only once
the question it starts from is done). The driver owns MLflow (one writer for the store); each trial
checkpoints every epoch into its trial-id folder, so a later `sweep run` resumes it from there.
Before a trial's run is opened, or a search started, the driver takes its lease (`sweeps.run.leases`):
another `sweep run` of the study that is training it keeps it, and this one skips it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from typing import Any, TextIO

from sweeps.config.compose import Composer
from sweeps.errors import SweepError
from sweeps.record.checkpoints import checkpoint_dir, prune_finished
from sweeps.record.model_registry import register_best
from sweeps.record.outbox import OutageLimits
from sweeps.record.store import is_stale, read_trial_runs, status_of
from sweeps.record.tags import TRIAL_ID
from sweeps.record.tracking import StudyRuns
from sweeps.run.console import Console, open_console
from sweeps.run.experiment import fit, grid, start_ray
from sweeps.run.leases import Leases, Owner
from sweeps.run.pending import warn_if_no_node_fits
from sweeps.run.recorder import Recorder, RunSummary
from sweeps.run.rerun import retire_search, retire_stale_trials, retire_trial, stale_search
from sweeps.run.search import run_search
from sweeps.run.stages import resolve_stage, stage_weights
from sweeps.trials import DONE, Plan, PlannedQuestion, PlannedTrial
from sweeps.words import plural
from trainables.errors import DataUnavailableError
from trainables.function.resolve import trainable_kind


def run_plan(plan: Plan, out: TextIO = sys.stdout, rerun_stale: bool = False, known: dict[str, Any] | None = None) -> RunSummary:
    """Every phase that has work, in order; stops at an interruption. Progress on `out`: live on a terminal.

    `rerun_stale`: finished trials (and searches) trained by other code are trained again (`sweeps.run.rerun`);
    without it they are kept, and the run says how many. `known`: the study's runs as `apply_statuses` just
    read them (trial id → run), so a large study's store is not read twice before anything starts.
    """
    tracking = plan.runtime.tracking
    with open_console(plan.study, out) as console:
        limits = OutageLimits(tracking.hold_epochs, tracking.wait_seconds)
        runs = StudyRuns(tracking.uri, plan.study, limits, lambda line: console.note(f"{plan.study}: {line}"), known)
        runs.update_questions(trial for trial in plan.trials if trial.status == "finished")
        leases = Leases(plan.runtime.paths.storage, plan.study)
        recorder = Recorder(plan, runs, console, leases)
        ray_started = False
        try:
            for phase in _phases(plan, runs, recorder, console, leases, rerun_stale):
                if not ray_started:
                    ray_started = start_ray(plan)
                    warn_if_no_node_fits(plan, sys.stderr)
                phase()
                if recorder.interrupted():
                    break
        finally:
            recorder.close_unfinished()
            leases.close()  # after the runs are closed: a driver that takes over finds them KILLED, to continue
            if ray_started:
                import ray

                ray.shutdown()
            runs.release()  # on an error or an interruption: one last try, without waiting
        if not recorder.interrupted():
            runs.finish()  # a server away at the end: wait for it (within tracking.wait_seconds)
            for trial_id in recorder.finished_ids():  # their runs and weights are in MLflow now
                prune_finished(checkpoint_dir(plan.runtime.paths.storage, plan.study, trial_id))
    if not recorder.started() and not recorder.skipped:
        print(f"{plan.study}: all {plural(len(plan.trials), 'planned trial')} (and any searches and stages) are done "
              f"in {plan.runtime.tracking.uri}; 0 trials to run.", file=out)
    return recorder.summary()


def _phases(
    plan: Plan, runs: StudyRuns, recorder: Recorder, console: Console, leases: Leases, rerun_stale: bool
) -> Iterator[Callable[[], None]]:
    """Each phase that has work, lazily: a stage is resolved only once its source question is done.

    The console is told up front what each phase will run (a search its samples, a stage its
    variants), so the run's totals are known before the first trial starts.
    """
    _stale_first(plan, runs, console, rerun_stale)
    pending = [trial for trial in plan.trials if trial.status not in DONE]
    composer: list[Composer] = []  # built once, when a search or stage first needs it

    def composed() -> Composer:
        if not composer:
            composer.append(Composer(plan.study, plan.overrides, plan.configs))
        return composer[0]

    _expect(plan, runs, console, pending, composed)
    if pending:
        yield lambda: _run_trials(plan, runs, recorder, leases, pending, None, "grid")
    for question_id in plan.order:
        question = plan.question(question_id)
        if question.form == "search":
            search = _search(plan, runs, recorder, leases, question, composed, console)
            if runs.search_done(question_id):
                search()  # only registers its best trial: no Ray needed
            else:
                yield search
        else:
            busy = _source_elsewhere(plan, leases, question)
            if busy is not None:  # its source's best is not known yet: another sweep is still training it
                console.expect(question_id, 0, 1)
                recorder.skip(f"{question_id} (from {question.depends_on[0]})", busy)
                continue
            resolved = resolve_stage(plan, question, runs, composed())
            if resolved is None:
                console.expect(question_id, 0, 1)
                console.note(f"{plan.study}: {question_id} waits for {question.depends_on[0]}: it has no finished trial yet.")
                continue
            trials, init_run = resolved
            todo = _stage_todo(plan, runs, trials, rerun_stale)
            console.expect(question_id, len(todo), 1)
            if todo:
                # mypy infers no type for a lambda with default arguments (they bind this stage's trials)
                yield lambda t=todo, r=init_run, q=question_id: _run_trials(  # type: ignore[misc]
                    plan, runs, recorder, leases, t, stage_weights(plan, runs, r), q
                )


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
        found = stale_search(runs, question_id) if plan.question(question_id).form == "search" else None
        if found is not None:
            retire_search(plan, runs, *found)
            console.note(f"{plan.study}: {question_id}'s search has stale samples: it searches again.")


def _source_elsewhere(plan: Plan, leases: Leases, question: PlannedQuestion) -> Owner | None:
    """The live driver of another `sweep run` that holds the search, or a trial, of the question `question`
    starts from; None if none does."""
    source = plan.question(question.depends_on[0])
    units = [f"search-{source.id}"] if source.form == "search" else [trial for variant in source.variants for trial in variant.trials]
    return next((holder for holder in map(leases.held_elsewhere, units) if holder is not None), None)


def _stage_todo(plan: Plan, runs: StudyRuns, trials: list[PlannedTrial], rerun_stale: bool) -> list[PlannedTrial]:
    """A stage's trials without a finished (or diverged) run; with `rerun_stale`, the stale finished ones too
    (retired now)."""
    current = read_trial_runs(plan.runtime.tracking.uri, plan.study)
    todo = []
    for trial in trials:
        run = current.get(trial.id)
        if run is not None and status_of(run) == "diverged":
            continue  # done: it would diverge again
        if run is not None and run.info.status == "FINISHED":
            if not (rerun_stale and is_stale(run, trial.config)):
                continue
            retire_trial(plan, runs, trial.id)
        todo.append(trial)
    return todo


def _expect(
    plan: Plan, runs: StudyRuns, console: Console, pending: list[PlannedTrial], composed: Callable[[], Composer]
) -> None:
    """What every phase will run, as far as it is known before any starts (`sweeps.run.progress`)."""
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


def _search(
    plan: Plan,
    runs: StudyRuns,
    recorder: Recorder,
    leases: Leases,
    question: PlannedQuestion,
    composed: Callable[[], Composer],
    console: Console,
) -> Callable[[], None]:
    """A search question under its lease: run to its end unless it already was, then its best registered."""

    def search() -> None:
        unit = f"search-{question.id}"
        holder = leases.claim(unit)
        if holder is not None:
            recorder.skip(f"{question.id} search", holder)
            return
        parent, done = runs.search_run(question.id)
        if not done:
            run_search(plan, question, composed(), recorder, parent, console.out)
            if recorder.interrupted():
                return  # the lease is released once `run_plan` has closed the samples' runs
        _register_best(plan, runs, question, console)
        leases.release(unit)

    return search


def _register_best(plan: Plan, runs: StudyRuns, question: PlannedQuestion, console: Console) -> None:
    search = question.config.search
    assert search is not None
    best = runs.best_trial(question.id, search.metric, search.mode)
    if best is None:
        return
    trial = f"{question.id} best trial {best.data.tags[TRIAL_ID]} ({search.metric} {best.data.metrics[search.metric]:.4f})"
    try:
        name = register_best(runs, question.id, best, search.metric, plan.runtime.paths.data_root)
    except (ValueError, DataUnavailableError) as error:  # a kind without a network; its data gone
        console.note(f"{plan.study}: {trial} is not registered: {error}")
        return
    console.note(f"{plan.study}: {trial} is registered as model {name} (an MLflow PyTorch model).")


def prepare_data(plan: Plan) -> None:
    """Fetch or check every data set the unfinished trials use, once, before any trial starts."""
    sources = {
        (trial.config["trainable"], trial.config["data"]["source"]): (trial.config["trainable"], trial.config["data"])
        for trial in plan.trials
        if trial.status not in DONE
    }
    for trainable, data in sources.values():
        try:
            trainable_kind(trainable).ensure_available(data, plan.runtime.paths.data_root)
        except (DataUnavailableError, ValueError) as error:  # missing files, or malformed ones
            raise SweepError(f"data.source={data['source']}: {error}") from None


def _run_trials(
    plan: Plan,
    runs: StudyRuns,
    recorder: Recorder,
    leases: Leases,
    trials: list[PlannedTrial],
    init: str | None,
    phase: str,
) -> None:
    """`trials` this driver holds the leases of, as one grid (`phase`: the grid, or a stage); a stage's start
    from `init` (weights in the shared storage). The leases are released when the grid ends; interrupted,
    only once `run_plan` has closed the runs."""
    mine = _claim(runs, recorder, leases, trials)
    try:
        recorder.begin(mine, phase)
        if mine:
            options, cpus_per_trial, share = grid(plan, mine, init)
            fit(plan, recorder, {}, options, cpus_per_trial, share)
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
    statuses = runs.statuses() if mine else {}
    for trial in [trial for trial in mine if statuses.get(trial.id) in DONE]:
        leases.release(trial.id)
        mine.remove(trial)
    return mine
