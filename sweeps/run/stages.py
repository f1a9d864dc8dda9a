"""A stage at run time: its source question's selected trial read back from MLflow (`resolve_stage`), and
that trial's final weights copied into the shared storage for every node's trials (`stage_weights`). The
stage's trials themselves are planned by `sweeps.plan.stages`."""

from __future__ import annotations

import tempfile

from sweeps.config.compose import Composer
from sweeps.plan.stages import stage_trials
from sweeps.record.checkpoints import checkpoint_dir, save_state
from sweeps.record.tags import TRIAL_ID
from sweeps.record.tracking import StudyRuns
from sweeps.trials import Plan, PlannedQuestion, PlannedTrial


def resolve_stage(
    plan: Plan, question: PlannedQuestion, runs: StudyRuns, composer: Composer
) -> tuple[list[PlannedTrial], str] | None:
    """The stage's trials and the MLflow run whose weights they start from; None while its source has none."""
    source = question.config.from_
    assert source is not None
    best = runs.best_trial(source.question, source.metric, source.mode)
    if best is None:
        return None
    return stage_trials(plan, question, composer, runs.trial_config(best), best.data.tags[TRIAL_ID]), best.info.run_id


def stage_weights(plan: Plan, runs: StudyRuns, run_id: str) -> str:
    """The shared-storage folder holding the final weights of MLflow run `run_id`, copied there by the driver.

    Every node's trials read a stage's starting weights from the shared storage: workers never talk to
    MLflow, so its server can stay on loopback.
    """
    import torch

    folder = checkpoint_dir(plan.runtime.paths.storage, plan.study, f"init-{run_id}")
    with tempfile.TemporaryDirectory() as local:
        path = runs.download(run_id, "checkpoint/model.pt", local)
        save_state(folder, {"model": torch.load(path, map_location="cpu", weights_only=True)})
    return folder
