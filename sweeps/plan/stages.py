"""Stage questions: variants that start from another question's selected trial (Q14, Q15).

A stage's trial is its source trial's resolved config (read back from MLflow) with the stage's
variant applied — a group picks that option (`data: mnist`), a value `xN` multiplies the source's
(`optim.lr: x0.01` is the source's learning rate ÷ 100) — plus `init_from`, the source trial's id:
the trial starts from that trial's final weights. `train: false` makes it evaluation only (0 epochs).
"""

from __future__ import annotations

import copy
from typing import Any

from sweeps.config.compose import Composer, absolute
from sweeps.errors import SweepError
from sweeps.plan.build import planned_trial, trial_config, validate
from sweeps.trials import Plan, PlannedQuestion, PlannedTrial, variant_name
from trainables.function.resolve import trainable_kind
from trainables.schema import TrialBase


def stage_trials(
    plan: Plan, question: PlannedQuestion, composer: Composer, base: dict[str, Any], source_id: str
) -> list[PlannedTrial]:
    """The stage's trials, one per variant in order, from trial `source_id` whose config is `base`."""
    assert question.config.from_ is not None
    trials = []
    for variant in question.variants:
        context = variant_name(question.id, variant.overrides)
        trial = stage_trial(base, variant.overrides, composer, plan, source_id, question.config.train, context)
        name = f"{context} from {question.config.from_.question}:{source_id}"
        trials.append(planned_trial(trial, plan.runtime, name, question.id, context))
    return trials


def stage_trial(
    base: dict[str, Any], written: dict[str, Any], composer: Composer, plan: Plan, source_id: str, train: bool, context: str
) -> TrialBase:
    """`base` (a source trial's config) with the stage's variant applied; validated by its trainable."""
    config = copy.deepcopy(base)
    for key, value in written.items():
        if key in composer.groups:
            composed, _ = composer.variant({key: value}, context)
            config[key] = trial_config(composed, plan.runtime, context).model_dump(mode="json")[key]
        else:
            *parents, leaf = key.split(".")
            node: Any = config  # a dict, or None past a missing key
            for part in parents:
                node = node.get(part) if isinstance(node, dict) else None
            if not isinstance(node, dict) or leaf not in node:
                raise SweepError(f"{context}: {key}: unknown key in the source trial's config")
            node[leaf] = absolute(node[leaf], value, f"{context}: {key}")
    config["init_from"] = source_id
    if not train:
        config["trainer"]["epochs"] = 0  # evaluate the source's weights as they are
    return validate(trainable_kind(config["trainable"]).schema, config, context=context)
