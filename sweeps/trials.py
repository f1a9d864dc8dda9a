"""The plan as data: a study's questions, their variants and its unique trials, each with its status, and
their JSON form as `sweep plan --json` prints it (docs/contracts.md).

`sweeps.plan.build` makes a plan; `sweeps.record.store.apply_statuses` and `sweeps.plan.from_store` fill in what the store
holds; the runner, the report and `sweep plan` read it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from sweeps.config.schema import QuestionConfig, RuntimeConfig
from sweeps.config.sources import Configs

Status = Literal["new", "partial", "finished", "diverged"]
DONE: tuple[Status, ...] = ("finished", "diverged")  # never run again: a diverged trial would diverge again


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
    variants: list[PlannedVariant]  # a search has none; a stage's are resolved when its source is done
    config: QuestionConfig  # as the study writes it
    samples: list[str] = field(default_factory=list)  # a search's sample trial ids, once read from the store

    @property
    def form(self) -> str:
        return self.config.form

    @property
    def depends_on(self) -> list[str]:
        return [self.config.from_.question] if self.config.from_ else []


def overrides_text(values: Mapping[str, Any]) -> str:
    """A variant's values as written: "optim=adam optim.lr=0.001"."""
    return " ".join(f"{key}={value}" for key, value in values.items())


def variant_name(prefix: str, values: Mapping[str, Any]) -> str:
    """A variant as a trial's name and an error's context: `prefix` (a question id), then its values,
    e.g. "q03 optim=adam optim.lr=0.001"."""
    return f"{prefix} {overrides_text(values)}"


@dataclass
class PlannedTrial:
    id: str
    config: dict[str, Any]  # the trial config as JSON data: what the id hashes and the trainable gets
    name: str  # the first question and variant that asked for it, e.g. "q03 optim.lr=0.001"
    parameters: int  # trainable parameters of its model
    group: str  # group_id: trials that differ only in seed share it
    questions: list[str] = field(default_factory=list)
    status: Status = "new"
    outcome: str | None = None  # how its run ended (tag sweeps.outcome: finished, early_stopped, failed, diverged)
    diverged_at_epoch: int | None = None  # diverged: the epoch whose training loss was not finite
    code_hash: str | None = None  # of the code its run was trained by (tag sweeps.code_hash); None: no run
    stale: bool = False  # finished, but by other code than this checkout's: `sweep run --rerun stale` retrains it


@dataclass
class Plan:
    study: str
    title: str
    runtime: RuntimeConfig
    questions: list[PlannedQuestion]
    trials: list[PlannedTrial]  # every grid question's trials; searches and stages add theirs when run
    overrides: list[str]  # the user's, to compose a search's samples and a stage's variants later
    configs: Configs  # where its configs came from: built-in, and a course folder
    order: list[str]  # search and stage questions, each after the question it starts from
    # A search's samples and a stage's trials as read back from the store (`sweep plan`, the report):
    # shown with the plan, never run as grid trials (sweeps.plan.from_store fills it).
    resolved: list[PlannedTrial] = field(default_factory=list)

    def trial(self, trial_id: str) -> PlannedTrial:
        return next(trial for trial in [*self.trials, *self.resolved] if trial.id == trial_id)

    def question(self, question_id: str) -> PlannedQuestion:
        return next(question for question in self.questions if question.id == question_id)

    def to_json(self) -> dict[str, Any]:
        """The `sweep plan --json` document (docs/contracts.md)."""
        return {
            "study": self.study,
            "title": self.title,
            "offline": self.runtime.offline,
            "questions": [
                {
                    "id": question.id,
                    "text": question.text,
                    **({"note": question.note} if question.note else {}),
                    "kind": question.form,
                    **({"repeats": question.config.repeats} if question.config.repeats > 1 else {}),
                    **({"depends_on": question.depends_on} if question.depends_on else {}),
                    **_stage_json(question.config),
                    "variants": [_variant_json(variant) for variant in question.variants],
                    **({"samples": question.samples} if question.samples else {}),
                }
                for question in self.questions
            ],
            "trials": [_trial_json(trial) for trial in [*self.trials, *self.resolved]],
        }


def _trial_json(trial: PlannedTrial) -> dict[str, Any]:
    return {
        "id": trial.id,
        "status": trial.status,
        **({"outcome": trial.outcome} if trial.outcome else {}),
        **({"diverged_at_epoch": trial.diverged_at_epoch} if trial.status == "diverged" else {}),
        "questions": trial.questions,
        "name": trial.name,
        "group": trial.group,
        "seed": trial.config["seed"],
        "data_source": trial.config["data"]["source"],
        "parameters": trial.parameters,
        "code_hash": trial.code_hash,
        "stale": trial.stale,
    }


def _variant_json(variant: PlannedVariant) -> dict[str, Any]:
    repeats = {"trials": variant.trials} if len(variant.trials) > 1 else {}
    reference = {"reference": True} if variant.reference else {}
    first = variant.trials[0] if variant.trials else None  # None: a stage whose source is not done yet
    return {"trial": first, **repeats, "group": variant.group, "overrides": variant.overrides, **reference}


def _stage_json(question: QuestionConfig) -> dict[str, Any]:
    """What a search samples and where a stage starts from (`sweep plan --json`)."""
    extra: dict[str, Any] = {}
    if question.search is not None:
        extra["search"] = question.search.model_dump(mode="json")
    if question.from_ is not None:
        extra["from"] = question.from_.model_dump(mode="json")
        extra["train"] = question.train
    if question.compare_with:
        extra["compare_with"] = [compare.model_dump(mode="json") for compare in question.compare_with]
    return extra
