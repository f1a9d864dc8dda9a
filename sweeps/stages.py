"""Stage questions: variants that start from another question's selected trial (Q14, Q15).

A stage's trial is its source trial's resolved config (read back from MLflow) with the stage's
variant applied — a group picks that option (`data: mnist`), a value `xN` multiplies the source's
(`optim.lr: x0.01` is the source's learning rate ÷ 100) — plus `init_from`, the source trial's id:
the trial starts from that trial's final weights. `train: false` makes it evaluation only (0 epochs).
"""

from __future__ import annotations

import copy
import tempfile
from typing import Any

from sweeps.checkpoints import checkpoint_dir, save_state
from sweeps.compose import CONFIG_GROUPS, Composer, absolute
from sweeps.errors import SweepError
from sweeps.plan import planned_trial, trial_config, validate
from sweeps.planned import Plan, PlannedQuestion, PlannedTrial
from sweeps.store import TRIAL_ID
from sweeps.tracking import StudyRuns
from trainables.kinds import kind
from trainables.schema import TrialBase


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


def stage_trials(
    plan: Plan, question: PlannedQuestion, composer: Composer, base: dict[str, Any], source_id: str
) -> list[PlannedTrial]:
    """The stage's trials, one per variant in order, from trial `source_id` whose config is `base`."""
    assert question.config.from_ is not None
    trials = []
    for variant in question.variants:
        context = f"{question.id} " + " ".join(f"{key}={value}" for key, value in variant.overrides.items())
        trial = stage_trial(base, variant.overrides, composer, plan, source_id, question.config.train, context)
        name = f"{context} from {question.config.from_.question}:{source_id}"
        trials.append(planned_trial(trial, name, question.id, context))
    return trials


def stage_trial(
    base: dict[str, Any], written: dict[str, Any], composer: Composer, plan: Plan, source_id: str, train: bool, context: str
) -> TrialBase:
    """`base` (a source trial's config) with the stage's variant applied; validated by its trainable."""
    config = copy.deepcopy(base)
    for key, value in written.items():
        if key in CONFIG_GROUPS:
            composed, _ = composer.variant({key: value}, context)
            config[key] = trial_config(composed, plan.runtime, context).model_dump(mode="json")[key]
        else:
            *parents, leaf = key.split(".")
            node = config
            for part in parents:
                node = node.get(part) if isinstance(node, dict) else None
            if not isinstance(node, dict) or leaf not in node:
                raise SweepError(f"{context}: {key}: unknown key in the source trial's config")
            node[leaf] = absolute(node[leaf], value, f"{context}: {key}")
    config["init_from"] = source_id
    if not train:
        config["trainer"]["epochs"] = 0  # evaluate the source's weights as they are
    return validate(kind(config["trainable"]).schema, config, context=context)


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
