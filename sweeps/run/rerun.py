"""`sweep run --rerun stale`: train again the finished trials whose code has changed since.

A trial is *stale* when its run's `sweeps.code_hash` is not the hash of the code that would train it
now (`trainables.code`). Rerunning one retires its run — tagged `sweeps.superseded`, its metrics and
artifacts kept, left out of every read (`sweeps.record.store.trial_runs`) — and forgets its checkpoint,
so the trial trains from scratch into a new run under the same trial id. A finished search with a
stale sample is searched again: its parent run and every sample run under it are retired together.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sweeps.record.checkpoints import checkpoint_dir, remove_state
from sweeps.record.store import is_stale
from sweeps.record.tags import TRIAL_ID
from sweeps.record.tracking import StudyRuns
from sweeps.trials import Plan, PlannedTrial
from sweeps.words import plural
from trainables.code import trial_code_hash
from trainables.kinds import trainable_of

if TYPE_CHECKING:  # imported late where used: mlflow costs seconds to import
    from mlflow.entities import Run

    from sweeps.record.store import StoredRun


def stale_note(plan: Plan) -> str | None:
    """What `sweep plan` says about the stale trials of `plan` (statuses applied), if there are any."""
    stale = sum(trial.stale for trial in plan.trials)
    if not stale:
        return None
    current = ", ".join(
        sorted({f"{trainable_of(trial.config)} {trial_code_hash(trial.config)}" for trial in plan.trials if trial.stale})
    )
    verb, them = ("was", "it") if stale == 1 else ("were", "them")
    return (
        f"stale: {plural(stale, 'finished trial')} {verb} trained by other code than this checkout's (code hash {current}); "
        f"`sweep run` keeps {them}, `sweep run --rerun stale` trains {them} again into new runs"
    )


def retire_trial(plan: Plan, runs: StudyRuns, trial_id: str) -> None:
    """The trial's current run superseded and its checkpoint forgotten: its next start is a new run."""
    run_id = runs.current_run(trial_id)
    if run_id is not None:
        runs.supersede(run_id)
    remove_state(checkpoint_dir(plan.runtime.paths.storage, plan.study, trial_id))


def retire_stale_trials(plan: Plan, runs: StudyRuns, trials: list[PlannedTrial]) -> list[PlannedTrial]:
    """The stale ones of `trials` retired (and marked new); returns them."""
    stale = [trial for trial in trials if trial.status == "finished" and trial.stale]
    for trial in stale:
        retire_trial(plan, runs, trial.id)
        trial.status, trial.stale = "new", False
    return stale


def stale_search(runs: StudyRuns, question: str) -> tuple[Run, list[StoredRun]] | None:
    """A finished search with a stale finished sample: (its parent run, its sample runs); else None."""
    parent, samples = runs.search_samples(question)
    if parent is None or parent.info.status != "FINISHED":
        return None
    if not any(sample.info.status == "FINISHED" and is_stale(sample) for sample in samples):
        return None
    return parent, samples


def retire_search(plan: Plan, runs: StudyRuns, parent: Run, samples: list[StoredRun]) -> None:
    """The search's parent and every sample retired: the next `search_run` starts a new search."""
    for sample in samples:
        retire_trial(plan, runs, sample.data.tags[TRIAL_ID])
    runs.supersede(parent.info.run_id)
