"""A plan completed from its MLflow store, reading only: each trial's status, a search's samples, and a
stage's variants resolved to their trials, each with its status.

`sweep plan`, `sweep report` and `sweeps.load` call it; it writes nothing and starts no Ray. A stage is
resolved as `sweep run` resolves it (sweeps.plan.stages): the best finished trial of the question it starts
from, its config read back from its `config.yaml`, each variant applied; so its trial ids are the ones
`sweep run` runs, and before they run they show as `new`.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from sweeps.config.compose import Composer
from sweeps.plan.stages import stage_trials
from sweeps.record.store import best_trial, find_experiment, mark_trial, read_trial_config, trial_runs, unflatten
from sweeps.record.tags import GROUP, PARAMETERS, QUESTIONS, TRIAL_ID
from sweeps.trials import Plan, PlannedTrial, PlannedVariant

if TYPE_CHECKING:  # imported late where used: mlflow costs seconds to import
    from sweeps.record.store import StoredRun


def complete_plan(plan: Plan) -> dict[str, StoredRun]:
    """Fill `plan` from its store; returns trial id → the run of every trial run of the study ({}: no store)."""
    found = find_experiment(plan.runtime.tracking.uri, plan.study)
    if found is None:
        return {}  # every trial stays `new`
    reader, experiment_id = found
    runs = trial_runs(reader, experiment_id)
    for trial in plan.trials:
        mark_trial(trial, runs.get(trial.id))
    composer: list[Composer] = []  # built once, when a stage first needs it (Hydra composes: ~1 s)
    for index, question in enumerate(plan.questions):
        if question.form == "search":
            samples = sorted(_answering(runs, question.id), key=lambda run: run.info.start_time or 0)
            for run in samples:
                _add(plan, _from_run(run))
            plan.questions[index] = dataclasses.replace(question, samples=[run.data.tags[TRIAL_ID] for run in samples])
        elif question.form == "stage":
            source = question.config.from_
            assert source is not None
            best = best_trial(reader, experiment_id, source.question, source.metric, source.mode)
            base = _config(reader.uri, best) if best is not None else None
            if best is None or base is None:
                continue  # shown as waiting for its source
            if not composer:
                composer.append(Composer(plan.study, plan.overrides, plan.configs))
            trials = stage_trials(plan, question, composer[0], base, best.data.tags[TRIAL_ID])
            for trial in trials:
                mark_trial(trial, runs.get(trial.id))
                _add(plan, trial)
            resolved = [
                PlannedVariant([trial.id], trial.group, variant.overrides, variant.reference)
                for variant, trial in zip(question.variants, trials, strict=True)
            ]
            plan.questions[index] = dataclasses.replace(question, variants=resolved)
    return runs


def _answering(runs: dict[str, StoredRun], question_id: str) -> list[StoredRun]:
    return [run for run in runs.values() if question_id in run.data.tags.get(QUESTIONS, "").split(",")]


def _from_run(run: StoredRun) -> PlannedTrial:
    """A search's sample as a planned trial, from its run: its config is its params, unflattened."""
    tags = run.data.tags
    trial = PlannedTrial(
        tags[TRIAL_ID],
        unflatten(run.data.params),
        run.info.run_name,
        int(tags.get(PARAMETERS, "0")),
        tags.get(GROUP, ""),
        [question for question in tags.get(QUESTIONS, "").split(",") if question],
    )
    mark_trial(trial, run)
    return trial


def _add(plan: Plan, trial: PlannedTrial) -> None:
    """Into `plan.resolved`, unless the plan already has a trial of that id (a grid trial a sample repeats)."""
    if all(known.id != trial.id for known in [*plan.trials, *plan.resolved]):
        plan.resolved.append(trial)


def _config(uri: str, run: StoredRun) -> dict[str, Any] | None:
    """The run's config.yaml; None when the run has none (a store not written by `sweep run`)."""
    from mlflow.exceptions import MlflowException

    try:
        return read_trial_config(uri, run)
    except (MlflowException, OSError):
        return None
