"""The typed schema of a study file and of where trials run, checked before anything runs.

A trial's own config (what it trains with, what its id hashes) is its trainable's schema
(trainables/kinds.py); `RuntimeConfig` says where and how trials run and are recorded — none of it
changes a result, so none of it is in a trial id.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, ValidationError, field_validator, model_validator

from sweeps.machine import machine_cpus
from trainables.image.schema import MODEL_FORMS
from trainables.schema import OPTIMIZER_NAMES, NonNegativeFloat, PositiveFloat, PositiveInt, Strict

TRACKING_SCHEMES = ("sqlite:///", "http://", "https://", "postgresql://", "mysql://", "databricks")


class TrackingConfig(Strict):
    uri: str  # MLflow 3 refuses the old file store: a sqlite:/// file or a tracking server
    # While a tracking server is away, `sweep run` keeps training and holds what it could not log, in order
    # (sweeps/record/outbox.py); past either bound it stops the study cleanly.
    hold_epochs: PositiveInt = 1000  # epochs held, not yet logged
    wait_seconds: PositiveFloat = 300.0  # waiting for the server where the run cannot go on without it

    @field_validator("uri")
    @classmethod
    def _known_scheme(cls, uri: str) -> str:
        if not uri.startswith(TRACKING_SCHEMES):
            raise ValueError(f"must start with one of {', '.join(TRACKING_SCHEMES)}")
        return uri


class ResourcesConfig(Strict):
    # null: a Ray started for this run. `auto`: the cluster this process runs on (a `ray job submit` job,
    # a shell on a node). HOST:PORT: the head's GCS port (6379), from a machine inside the cluster's network.
    address: str | None = None
    num_cpus: PositiveInt | None = None
    cpus_per_trial: PositiveFloat = 1.0
    gpus_per_trial: NonNegativeFloat = 0.0
    channels_last: bool = True
    pending_timeout: PositiveFloat = 900.0  # seconds the study's trials may all wait to be placed; then it stops
    # Most trials one Ray trial trains together as a fused pack; auto: what benchmarks/pack_speed.py
    # measured faster on the trials' device (sweeps/plan/packs.py); 1: every trial alone.
    pack_size: PositiveInt | Literal["auto"] = "auto"
    capture: bool = True  # on a GPU: each full batch's step replayed from a captured CUDA graph
    max_failures: Annotated[int, Field(ge=0)] = 2  # times a trial whose worker died is started again
    # This machine's own Ray without GPUs: once fewer trials are left than can run at once, the running
    # ones raise their torch threads to the idle cores after each epoch (sweeps/run/cores.py).
    share_idle_cores: bool = True

    @property
    def local_cpus(self) -> int:
        """The CPUs a Ray started for the run has: `num_cpus`, else this machine's (cgroup-aware)."""
        return self.num_cpus or machine_cpus()

    @property
    def local_cpu_only(self) -> bool:
        """Trials on a Ray started for the run, without GPUs: their threads are this machine's cores."""
        return self.address is None and self.gpus_per_trial == 0

    @field_validator("address")
    @classmethod
    def _cluster_address(cls, value: str | None) -> str | None:
        if value is None or re.fullmatch(r"auto|[^\s:/]+:\d+", value):
            return value
        if value.startswith("ray://"):  # Tune would run the experiment, and the driver's MLflow callback, remotely
            raise ValueError("Ray Client is not supported: run `sweep run` on the cluster (`ray job submit`) with auto")
        raise ValueError("allowed: auto or HOST:PORT (null: a Ray started for this run)")


class PathsConfig(Strict):
    data_root: str  # a local folder: torchvision reads files
    storage: str  # checkpoints and Ray Tune's state: a local folder, or a URI every node reaches (s3://bucket/prefix)

    @field_validator("data_root")
    @classmethod
    def _local(cls, value: str) -> str:
        if "://" in value:
            raise ValueError("must be a local folder (torchvision reads files), not a URI")
        return value


class RuntimeConfig(Strict):
    """Where trials run and are recorded: the same for every trial of one invocation."""

    offline: bool
    tracking: TrackingConfig
    resources: ResourcesConfig
    paths: PathsConfig


class SchedulerConfig(Strict):
    """Early stopping of a search's trials: ASHA (Ray Tune's ASHAScheduler), or none."""

    name: Literal["asha", "none"] = "asha"
    grace_period: PositiveInt = 1  # epochs every trial runs before it may be stopped
    reduction_factor: Annotated[float, Field(gt=1.0)] = 3.0  # keep the best 1/reduction_factor at each rung


class SearchConfig(Strict):
    """An open-ended question: Optuna samples `space` (Hydra's sweep grammar) through Ray Tune."""

    space: dict[str, str] = Field(min_length=1)  # key → choice(…) | range(…) | interval(…) | tag(log, interval(…))
    fixed: dict[str, Any] = Field(default_factory=dict)  # overrides every sample shares (optim: adam, …)
    metric: str = "val_acc"
    mode: Literal["max", "min"] = "max"
    num_samples: PositiveInt
    max_concurrent: PositiveInt | None = None
    scheduler: SchedulerConfig = SchedulerConfig()
    seed: Annotated[int, Field(ge=0)] = 0  # Optuna's sampler seed


class FromConfig(Strict):
    """A stage's starting point: the final weights and config of another question's selected trial."""

    question: str
    select: Literal["best"] = "best"
    metric: str = "val_acc"
    mode: Literal["max", "min"] = "max"


class CompareConfig(Strict):
    """A run of another question that this one's are compared with (Q15: the plain MNIST run of Q1)."""

    question: str
    variant: dict[str, Any] = Field(default_factory=dict)  # as that question writes it


class QuestionConfig(Strict):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)

    id: str = Field(pattern=r"^[a-z0-9_]+$")
    text: str
    note: str | None = None
    grid: dict[str, list[Any]] = Field(default_factory=dict)  # cartesian product, in written order
    variants: list[dict[str, Any]] = Field(default_factory=list)  # or an explicit list
    reference: dict[str, Any] | None = None  # the variant the others are compared with
    repeats: PositiveInt = 1  # trials per variant that differ only in seed (seed, seed+1, …)
    search: SearchConfig | None = None  # instead of a grid: sample a space
    from_: FromConfig | None = Field(default=None, alias="from")  # variants start from that trial
    train: bool = True  # false: a stage only evaluates its starting weights (no optimizer step)
    compare_with: list[CompareConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_way_of_listing_variants(self) -> QuestionConfig:
        ways = [name for name, given in (("grid", self.grid), ("variants", self.variants), ("search", self.search)) if given]
        if len(ways) != 1:
            raise ValueError(f"question {self.id}: give exactly one of `grid`, `variants` or `search`")
        if any(not values for values in self.grid.values()):
            raise ValueError(f"question {self.id}: every grid key needs at least one value")
        if self.search is not None and self.from_ is not None:
            raise ValueError(f"question {self.id}: a search cannot start `from` another question")
        if not self.train and self.from_ is None:
            raise ValueError(f"question {self.id}: `train: false` needs `from:` weights to evaluate")
        return self

    @property
    def form(self) -> Literal["grid", "search", "stage"]:
        """A grid of variants, a search, or a stage (a question's `kind` in `sweep plan --json`)."""
        return "search" if self.search is not None else "stage" if self.from_ is not None else "grid"


class StudyConfig(Strict):
    name: str
    title: str
    # Values the study sets on its baseline (`optim.lr: 0.1`), applied like command-line overrides
    # before the user's: a variant that re-picks a group (`optim: adam`) gets that option's defaults.
    baseline: dict[str, Any] = Field(default_factory=dict)
    questions: list[QuestionConfig] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> StudyConfig:
        ids = [q.id for q in self.questions]
        duplicated = sorted({i for i in ids if ids.count(i) > 1})
        if duplicated:
            raise ValueError(f"question ids must be unique; repeated: {', '.join(duplicated)}")
        for question in self.questions:
            for source in [c.question for c in question.compare_with] + ([question.from_.question] if question.from_ else []):
                if source not in ids:
                    raise ValueError(f"question {question.id}: unknown question {source!r}; allowed: {', '.join(ids)}")
        return self


def describe_validation_error(error: ValidationError, prefix: str = "") -> str:
    """The first error as one line: `optim.lr: Input should be greater than 0 (got -1)`."""
    first = error.errors(include_url=False)[0]
    loc = [str(part) for part in first["loc"]]
    # A discriminated union puts the chosen tag into the path (optim.sgd.lr, model.layer-list.width): drop it.
    if len(loc) > 2 and (loc[0] == "optim" and loc[1] in OPTIMIZER_NAMES or loc[0] == "model" and loc[1] in MODEL_FORMS):
        del loc[1]
    where = ".".join(([prefix] if prefix else []) + loc)
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "unknown key"
    elif first["type"] == "union_tag_invalid":
        message = f"unknown optimizer; allowed: {', '.join(OPTIMIZER_NAMES)}"
    got = "" if first["type"] in ("missing", "union_tag_invalid") else f" (got {first['input']!r})"
    return f"{where}: {message}{got}" if where else f"{message}{got}"
