"""Planning a study: every question's variants → validated trial configs → unique trials by content hash.

A trial's id is a hash of its fully resolved training config (seed included), so a variant two
questions share (Q1's Fashion-MNIST run is the ×1 of Q3–Q7) is one trial that answers both. The plan it
makes is `sweeps.trials`'s data.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException
from pydantic import ValidationError

from sweeps.config.compose import Composer
from sweeps.config.locations import absolute_location, absolute_tracking_uri
from sweeps.config.schema import QuestionConfig, RuntimeConfig, StudyConfig, describe_validation_error
from sweeps.config.search_space import Domain, Interval, search_space
from sweeps.config.sources import Configs
from sweeps.errors import SweepError
from sweeps.trials import Plan, PlannedQuestion, PlannedTrial, PlannedVariant, variant_name
from trainables.function.resolve import trainable_kind
from trainables.kinds import trainable_of
from trainables.schema import TrialBase

_RUNTIME_KEYS = {"offline", "tracking", "resources", "paths", "study"}


def trial_id(config: TrialBase) -> str:
    """12 hex digits of the SHA-256 of the config's canonical JSON, less the keys in NOT_HASHED.

    Keys at their schema default are left out too, so a key added later with a default that keeps
    the old behaviour leaves every recorded trial's id — and its finished run — as it was.
    """
    return _digest(config.model_dump(mode="json", exclude=config.NOT_HASHED, exclude_defaults=True))


def group_id(config: TrialBase) -> str:
    """Like trial_id but blind to the seed: the repeats of one variant share it."""
    exclude = {**config.NOT_HASHED, "seed": True}
    return _digest(config.model_dump(mode="json", exclude=exclude, exclude_defaults=True))


def _digest(content: dict[str, Any]) -> str:
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def plan_study(
    study: str,
    overrides: Sequence[str] = (),
    questions: Sequence[str] | None = None,
    conf_dir: Path | None = None,
    course: Path | None = None,
) -> Plan:
    """Compose, validate and deduplicate every trial of `study`; raises SweepError on bad input.

    `course`: a course folder beside the built-in configs; `conf_dir`: a folder in their place."""
    configs = Configs(course=course) if conf_dir is None else Configs(conf_dir, course)
    composer = Composer(study, overrides, configs)
    _check_top_level(composer.baseline)
    study_config = validate(StudyConfig, _container(composer.baseline.study, "study"), prefix="study")
    runtime = validate(RuntimeConfig, _runtime_data(composer.baseline))
    selected = _select(study_config, questions)
    baseline = trial_config(composer.baseline, runtime, "the baseline")  # a bad override is reported as itself
    model_parameters(baseline, runtime, "the baseline")
    trials: dict[str, PlannedTrial] = {}
    planned = [_plan_question(question, composer, runtime, trials) for question in selected]
    order = dependency_order([question for question in selected if question.form != "grid"])
    return Plan(
        study_config.name, study_config.title, runtime, planned, list(trials.values()), list(overrides), configs, order
    )


def dependency_order(questions: Sequence[QuestionConfig]) -> list[str]:
    """Question ids, each after the one it starts `from`; a cycle is a SweepError naming it."""
    by_id = {question.id: question for question in questions}
    order: list[str] = []
    visiting: list[str] = []

    def visit(question_id: str) -> None:
        if question_id in order:
            return
        if question_id in visiting:
            cycle = " → ".join([*visiting[visiting.index(question_id) :], question_id])
            raise SweepError(f"study.questions: `from` makes a cycle: {cycle}")
        visiting.append(question_id)
        source = by_id[question_id].from_
        if source is not None and source.question in by_id:
            visit(source.question)
        visiting.pop()
        order.append(question_id)

    for question_id in by_id:
        visit(question_id)
    return order


def variants_of(question: QuestionConfig) -> list[dict[str, Any]]:
    """A question's variants as override dicts: the grid's cartesian product in written order."""
    if question.variants:
        return [dict(variant) for variant in question.variants]
    keys = list(question.grid)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*question.grid.values())]


def _check_whole_numbers(space: Mapping[str, Domain], config: DictConfig, where: str) -> None:
    """A float interval on a whole-number key (`trainer.batch_size: interval(32, 256)`) would sample 117.4:
    Hydra parses interval bounds as floats, and only `int(…)` makes them whole, as in Hydra's Optuna sweeper."""
    for key, domain in space.items():
        value = OmegaConf.select(config, key, default=None)
        if isinstance(domain, Interval) and not domain.integer and isinstance(value, int) and not isinstance(value, bool):
            raise SweepError(
                f"{where}.{key}: {key} is a whole number ({value}) but interval(…) samples floats; "
                f"write int(interval({domain.low:g}, {domain.high:g}))"
            )


def _plan_question(
    question: QuestionConfig, composer: Composer, runtime: RuntimeConfig, trials: dict[str, PlannedTrial]
) -> PlannedQuestion:
    if question.form == "search":
        search = question.search
        assert search is not None  # the form says so
        where = f"{question.id}.search.space"
        space = search_space(search.space, where)  # the grammar checked before anything runs
        fixed, _ = composer.variant(search.fixed, f"{question.id}.search.fixed")
        _check_whole_numbers(space, fixed, where)
        return PlannedQuestion(question.id, question.text, question.note, [], question)
    if question.form == "stage":  # resolved against its source's best trial when that is done
        unresolved = [PlannedVariant([], "", variant, reference=False) for variant in variants_of(question)]
        return PlannedQuestion(question.id, question.text, question.note, unresolved, question)
    variants = []
    for written in variants_of(question):
        context = variant_name(question.id, written)
        config, absolute = composer.variant(written, context)
        first = trial_config(config, runtime, context)
        name = variant_name(question.id, absolute)
        ids = add_repeats(first, question, name, trials, model_parameters(first, runtime, context))
        variants.append(PlannedVariant(ids, group_id(first), absolute, reference=False))
    if question.reference is not None:
        reference = group_id(trial_config(composer.variant(question.reference, f"{question.id}.reference")[0], runtime, ""))
        if reference not in {variant.group for variant in variants}:
            raise SweepError(f"{question.id}.reference: matches none of the question's variants")
        variants = [PlannedVariant(v.trials, v.group, v.overrides, v.group == reference) for v in variants]
    return PlannedQuestion(question.id, question.text, question.note, variants, question)


def planned_trial(trial: TrialBase, runtime: RuntimeConfig, name: str, question_id: str, context: str) -> PlannedTrial:
    """A validated trial config as a planned trial answering `question_id` (a search sample, a stage)."""
    parameters = model_parameters(trial, runtime, context)
    planned = PlannedTrial(trial_id(trial), trial.model_dump(mode="json"), name, parameters, group_id(trial))
    planned.questions.append(question_id)
    return planned


def add_repeats(
    first: TrialBase, question: QuestionConfig, name: str, trials: dict[str, PlannedTrial], parameters: int
) -> list[str]:
    """The ids of `first`'s repeats (seeds seed … seed+repeats-1), each added to `trials` once."""
    ids = []
    group = group_id(first)  # blind to the seed: the same for every repeat
    for repeat in range(question.repeats):
        trial = first.model_copy(update={"seed": first.seed + repeat})
        tid = trial_id(trial)
        if tid not in trials:
            suffix = f" seed={trial.seed}" if question.repeats > 1 else ""
            trials[tid] = PlannedTrial(tid, trial.model_dump(mode="json"), name + suffix, parameters, group)
        if question.id not in trials[tid].questions:
            trials[tid].questions.append(question.id)
        ids.append(tid)
    return ids


def trial_config(config: DictConfig, runtime: RuntimeConfig, context: str) -> TrialBase:
    """The trial config of the trainable the config names, validated by that trainable's schema."""
    try:
        schema = trainable_kind(trainable_of(config)).schema
    except ValueError as error:
        raise SweepError(str(error)) from None
    # A key deleted by an override (`~seed`) is left out, so the schema reports it as required. A schema
    # that keeps unknown keys (a training function's) gets every key but the runtime's.
    given = [str(key) for key in config]
    fields = [key for key in given if key not in _RUNTIME_KEYS] if _open(schema) else [key for key in schema.model_fields if key in given]
    data = {key: _container(config[key], f"{context}: {key}") for key in fields}
    if runtime.offline and isinstance(data.get("data"), dict):
        data["data"]["source"] = data["data"].get("standin")  # the plan and the run record which one
    return validate(schema, data, context=context)


def model_parameters(trial: TrialBase, runtime: RuntimeConfig, context: str) -> int:
    """The trainable's own plan-time check of its model against its data, and its parameter count."""
    try:
        return trainable_kind(trial.trainable).parameters(trial.model_dump(mode="json"), Path(runtime.paths.data_root))
    except ValueError as error:  # ModelSpecError, a model from code that fails, bad data settings alike
        raise SweepError(f"{error} (in {context})") from None


def _select(study: StudyConfig, questions: Sequence[str] | None) -> list[QuestionConfig]:
    """The questions asked for, with every question they start from or compare with (in study order)."""
    if not questions:
        return list(study.questions)
    by_id = {question.id: question for question in study.questions}
    unknown = [q for q in questions if q not in by_id]
    if unknown:
        raise SweepError(f"--questions: unknown question {unknown[0]!r}; allowed: {', '.join(by_id)}")
    wanted: set[str] = set()
    todo = list(questions)
    while todo:
        question = by_id[todo.pop()]
        if question.id not in wanted:
            wanted.add(question.id)
            todo += [c.question for c in question.compare_with] + ([question.from_.question] if question.from_ else [])
    return [question for question in study.questions if question.id in wanted]


def _runtime_data(baseline: DictConfig) -> dict[str, Any]:
    """Runtime settings with every local path made absolute: trials run in other working directories."""
    data = {key: _container(baseline[key], key) for key in ("tracking", "resources", "paths", "offline") if key in baseline}
    if isinstance(data.get("paths"), dict):
        data["paths"] = {key: absolute_location(value) for key, value in data["paths"].items()}
    if isinstance(data.get("tracking"), dict) and "uri" in data["tracking"]:
        data["tracking"]["uri"] = absolute_tracking_uri(data["tracking"]["uri"])
    return data


def _check_top_level(baseline: DictConfig) -> None:
    try:
        schema = trainable_kind(trainable_of(baseline)).schema
    except ValueError as error:
        raise SweepError(str(error)) from None
    if _open(schema):  # a training function's config: whatever it reads, passed through
        return
    allowed = _RUNTIME_KEYS | set(schema.model_fields)
    unknown = sorted(set(baseline) - allowed)
    if unknown:
        raise SweepError(f"{unknown[0]}: unknown key; allowed: {', '.join(sorted(allowed))}")


def _open(schema: type[TrialBase]) -> bool:
    """Whether `schema` keeps keys it does not name (a training function's trial config)."""
    return schema.model_config.get("extra") == "allow"


def _container(node: Any, context: str) -> Any:
    if not isinstance(node, DictConfig):
        return node
    try:
        return OmegaConf.to_container(node, resolve=True)
    except OmegaConfBaseException as error:
        raise SweepError(f"{context}: {str(error).splitlines()[0]}") from None


def validate(schema: type[Any], data: Mapping[str, Any], prefix: str = "", context: str = "") -> Any:
    """`schema` applied to `data`; the first problem as one line, `[context]` saying which variant.

    No number may be infinite or NaN, wherever it is (a layer's `p` included): nothing a trial or a run
    is configured with means anything at inf or nan, and bounds such as `gt=0` let inf through.
    """
    found = non_finite(data)
    if found is not None:
        path, value = found
        message = f"{'.'.join([prefix, *path] if prefix else path)}: must be a finite number (got {value})"
        raise SweepError(f"{message} (in {context})" if context else message)
    try:
        return schema.model_validate(data)
    except ValidationError as error:
        message = describe_validation_error(error, prefix)
        raise SweepError(f"{message} (in {context})" if context else message) from None


def non_finite(data: Any, path: tuple[str, ...] = ()) -> tuple[tuple[str, ...], float] | None:
    """The key path and value of the first infinite or NaN number in `data` (nested dicts and lists), else None."""
    if isinstance(data, float) and not math.isfinite(data):
        return path, data
    items = data.items() if isinstance(data, Mapping) else enumerate(data) if isinstance(data, list) else ()
    for key, value in items:
        found = non_finite(value, (*path, str(key)))
        if found is not None:
            return found
    return None
