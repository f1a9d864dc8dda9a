"""Planning a study: every question's variants → validated trial configs → unique trials by content hash.

A trial's id is a hash of its fully resolved training config (seed included), so a variant two
questions share (Q1's Fashion-MNIST run is the ×1 of Q3–Q7) is one trial that answers both.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException
from pydantic import ValidationError

from sweeps.compose import CONF_DIR, Composer
from sweeps.errors import SweepError
from sweeps.schema import NOT_HASHED, QuestionConfig, RuntimeConfig, StudyConfig, TrialConfig, describe_validation_error
from trainables.data import data_shape
from trainables.model import ModelSpecError, build_model, count_parameters

Status = Literal["new", "partial", "finished"]
TRIAL_KEYS = ("data", "model", "optim", "trainer", "seed")
_TOP_LEVEL = {*TRIAL_KEYS, "offline", "tracking", "resources", "paths", "study"}


@dataclass(frozen=True)
class PlannedVariant:
    trials: list[str]  # one per repeat (seeds seed, seed+1, …); a single one without repeats
    group: str  # id of the config less its seed, shared by the repeats (tag sweeps.group)
    overrides: dict[str, Any]  # relative values already made absolute
    reference: bool  # the variant the question's others are compared with

    @property
    def trial(self) -> str:
        """The variant's first (or only) trial."""
        return self.trials[0]


@dataclass(frozen=True)
class PlannedQuestion:
    id: str
    text: str
    note: str | None
    variants: list[PlannedVariant]


@dataclass
class PlannedTrial:
    id: str
    config: dict[str, Any]  # TrialConfig as JSON data: what the id hashes and the trainable gets
    name: str  # the first question and variant that asked for it, e.g. "q03 optim.lr=0.001"
    parameters: int  # trainable parameters of its model
    group: str  # group_id: trials that differ only in seed share it
    questions: list[str] = field(default_factory=list)
    status: Status = "new"


@dataclass
class Plan:
    study: str
    title: str
    runtime: RuntimeConfig
    questions: list[PlannedQuestion]
    trials: list[PlannedTrial]

    def trial(self, trial_id: str) -> PlannedTrial:
        return next(trial for trial in self.trials if trial.id == trial_id)

    def to_json(self) -> dict[str, Any]:
        """The `sweep plan --json` document (../shared/contracts.md)."""
        return {
            "study": self.study,
            "title": self.title,
            "offline": self.runtime.offline,
            "questions": [
                {
                    "id": question.id,
                    "text": question.text,
                    **({"note": question.note} if question.note else {}),
                    **({"repeats": len(question.variants[0].trials)} if len(question.variants[0].trials) > 1 else {}),
                    "variants": [_variant_json(variant) for variant in question.variants],
                }
                for question in self.questions
            ],
            "trials": [
                {
                    "id": trial.id,
                    "status": trial.status,
                    "questions": trial.questions,
                    "name": trial.name,
                    "group": trial.group,
                    "seed": trial.config["seed"],
                    "data_source": trial.config["data"]["source"],
                    "parameters": trial.parameters,
                }
                for trial in self.trials
            ],
        }


def _variant_json(variant: PlannedVariant) -> dict[str, Any]:
    repeats = {"trials": variant.trials} if len(variant.trials) > 1 else {}
    reference = {"reference": True} if variant.reference else {}
    return {"trial": variant.trial, **repeats, "group": variant.group, "overrides": variant.overrides, **reference}


def trial_id(config: TrialConfig) -> str:
    """12 hex digits of the SHA-256 of the config's canonical JSON, less the keys in NOT_HASHED.

    Keys at their schema default are left out too, so a key added later with a default that keeps
    the old behaviour leaves every recorded trial's id — and its finished run — as it was.
    """
    return _digest(config.model_dump(mode="json", exclude=NOT_HASHED, exclude_defaults=True))


def group_id(config: TrialConfig) -> str:
    """Like trial_id but blind to the seed: the repeats of one variant share it."""
    return _digest(config.model_dump(mode="json", exclude={**NOT_HASHED, "seed": True}, exclude_defaults=True))


def _digest(content: dict[str, Any]) -> str:
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def plan_study(
    study: str,
    overrides: Sequence[str] = (),
    questions: Sequence[str] | None = None,
    conf_dir: Path = CONF_DIR,
) -> Plan:
    """Compose, validate and deduplicate every trial of `study`; raises SweepError on bad input."""
    composer = Composer(study, overrides, conf_dir)
    _check_top_level(composer.baseline)
    study_config = _validate(StudyConfig, _container(composer.baseline.study, "study"), prefix="study")
    runtime = _validate(RuntimeConfig, _runtime_data(composer.baseline))
    selected = _select(study_config, questions)
    baseline = _trial(composer.baseline, runtime, "the baseline")  # a bad override is reported as itself
    _parameters(baseline, "the baseline")
    trials: dict[str, PlannedTrial] = {}
    planned = [_plan_question(question, composer, runtime, trials) for question in selected]
    return Plan(study_config.name, study_config.title, runtime, planned, list(trials.values()))


def variants_of(question: QuestionConfig) -> list[dict[str, Any]]:
    """A question's variants as override dicts: the grid's cartesian product in written order."""
    if question.variants:
        return [dict(variant) for variant in question.variants]
    keys = list(question.grid)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*question.grid.values())]


def _plan_question(
    question: QuestionConfig, composer: Composer, runtime: RuntimeConfig, trials: dict[str, PlannedTrial]
) -> PlannedQuestion:
    variants = []
    for written in variants_of(question):
        context = f"{question.id} " + " ".join(f"{key}={value}" for key, value in written.items())
        config, absolute = composer.variant(written, context)
        first = _trial(config, runtime, context)
        parameters = _parameters(first, context)
        name = f"{question.id} " + " ".join(f"{key}={value}" for key, value in absolute.items())
        ids = []
        for repeat in range(question.repeats):
            trial = first.model_copy(update={"seed": first.seed + repeat})
            tid = trial_id(trial)
            if tid not in trials:
                suffix = f" seed={trial.seed}" if question.repeats > 1 else ""
                trials[tid] = PlannedTrial(tid, trial.model_dump(mode="json"), name + suffix, parameters, group_id(trial))
            if question.id not in trials[tid].questions:
                trials[tid].questions.append(question.id)
            ids.append(tid)
        variants.append(PlannedVariant(ids, group_id(first), absolute, reference=False))
    if question.reference is not None:
        reference = group_id(_trial(composer.variant(question.reference, f"{question.id}.reference")[0], runtime, ""))
        if reference not in {variant.group for variant in variants}:
            raise SweepError(f"{question.id}.reference: matches none of the question's variants")
        variants = [PlannedVariant(v.trials, v.group, v.overrides, v.group == reference) for v in variants]
    return PlannedQuestion(question.id, question.text, question.note, variants)


def _trial(config: DictConfig, runtime: RuntimeConfig, context: str) -> TrialConfig:
    # A key deleted by an override (`~seed`) is left out, so the schema reports it as required.
    data = {key: _container(config[key], f"{context}: {key}") for key in TRIAL_KEYS if key in config}
    if runtime.offline and isinstance(data.get("data"), dict):
        data["data"]["source"] = data["data"].get("standin")  # the plan and the run record which one
    return _validate(TrialConfig, data, context=context)


def _parameters(trial: TrialConfig, context: str) -> int:
    """Builds the model on the meta device: shapes checked, parameters counted, no memory used."""
    input_shape, num_classes = data_shape(trial.data.model_dump())
    import torch  # local: only planning needs the meta device

    try:
        with torch.device("meta"):
            return count_parameters(build_model(trial.model.model_dump(mode="json"), input_shape, num_classes))
    except ModelSpecError as error:
        raise SweepError(f"{error} (in {context})") from None


def _select(study: StudyConfig, questions: Sequence[str] | None) -> list[QuestionConfig]:
    if not questions:
        return list(study.questions)
    known = [question.id for question in study.questions]
    unknown = [q for q in questions if q not in known]
    if unknown:
        raise SweepError(f"--questions: unknown question {unknown[0]!r}; allowed: {', '.join(known)}")
    return [question for question in study.questions if question.id in questions]


def _runtime_data(baseline: DictConfig) -> dict[str, Any]:
    data = {key: _container(baseline[key], key) for key in ("tracking", "resources", "paths", "offline") if key in baseline}
    if isinstance(data.get("paths"), dict):
        data["paths"] = {key: str(Path(value).expanduser().absolute()) for key, value in data["paths"].items()}
    return data


def _check_top_level(baseline: DictConfig) -> None:
    unknown = sorted(set(baseline) - _TOP_LEVEL)
    if unknown:
        raise SweepError(f"{unknown[0]}: unknown key; allowed: {', '.join(sorted(_TOP_LEVEL))}")


def _container(node: Any, context: str) -> Any:
    if not isinstance(node, DictConfig):
        return node
    try:
        return OmegaConf.to_container(node, resolve=True)
    except OmegaConfBaseException as error:
        raise SweepError(f"{context}: {str(error).splitlines()[0]}") from None


def _validate(schema: type[Any], data: Mapping[str, Any], prefix: str = "", context: str = "") -> Any:
    """`schema` applied to `data`; the first problem as one line, `[context]` saying which variant."""
    try:
        return schema.model_validate(data)
    except ValidationError as error:
        message = describe_validation_error(error, prefix)
        raise SweepError(f"{message} (in {context})" if context else message) from None
