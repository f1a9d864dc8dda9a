"""The typed schema every resolved trial config and study file is checked against before anything runs.

`TrialConfig` is what a trial trains with and what its id hashes; `RuntimeConfig` says where and how
trials run and are recorded (none of it changes a result, so none of it is in the id).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from trainables.data import SOURCES
from trainables.losses import LOSSES
from trainables.optim import OPTIMIZERS

Probability = Annotated[float, Field(ge=0.0, le=1.0)]
PositiveFloat = Annotated[float, Field(gt=0.0)]
NonNegativeFloat = Annotated[float, Field(ge=0.0)]
PositiveInt = Annotated[int, Field(ge=1)]

DataSource = Literal[SOURCES]  # type: ignore[valid-type]


class Strict(BaseModel):
    """Unknown keys and silent type coercions are errors (a typo must never be ignored)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class DataConfig(Strict):
    name: DataSource
    source: DataSource  # what is loaded: `name`, or its stand-in when offline=true
    standin: DataSource  # offline counterpart; `source` records the choice
    mean: float | Annotated[list[float], Field(min_length=1)]  # one for all channels, or one per channel
    std: PositiveFloat | Annotated[list[PositiveFloat], Field(min_length=1)]
    download: bool = True  # fetch into paths.data_root when missing (online users)
    validation_split: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0  # 0: validate on the test set
    crop: PositiveInt | None = None  # random crops of this side when training, centre crops when evaluating
    size: PositiveInt | None = None  # synthetic only: training examples
    test_size: PositiveInt | None = None  # synthetic only
    train_file: str | None = None  # mnist_svmlight only: paths under paths.data_root
    test_file: str | None = None


class ModelConfig(Strict):
    name: str
    width: PositiveFloat = 1.0  # multiplier on conv filters and hidden units
    dropout: Probability = 0.5  # p of every layer written `p: ${model.dropout}`
    hidden: PositiveInt | None = None  # units of every layer written `units: ${model.hidden}`
    layers: list[dict[str, Any]] = Field(min_length=1)
    note: str | None = None  # why this model (Q12 asks); prose, not in the trial id


class SGDConfig(Strict):
    name: Literal["sgd"]
    lr: PositiveFloat
    momentum: NonNegativeFloat = 0.0
    dampening: NonNegativeFloat = 0.0
    nesterov: bool = False
    weight_decay: NonNegativeFloat = 0.0


class AdamConfig(Strict):
    name: Literal["adam"]
    lr: PositiveFloat
    betas: Annotated[list[Probability], Field(min_length=2, max_length=2)] = [0.9, 0.999]
    eps: PositiveFloat = 1e-8
    weight_decay: NonNegativeFloat = 0.0
    amsgrad: bool = False


class RMSpropConfig(Strict):
    name: Literal["rmsprop"]
    lr: PositiveFloat
    alpha: Probability = 0.99
    eps: PositiveFloat = 1e-8
    momentum: NonNegativeFloat = 0.0
    weight_decay: NonNegativeFloat = 0.0
    centered: bool = False


class AdadeltaConfig(Strict):
    name: Literal["adadelta"]
    lr: PositiveFloat
    rho: Probability = 0.9
    eps: PositiveFloat = 1e-6
    weight_decay: NonNegativeFloat = 0.0


class AdagradConfig(Strict):
    name: Literal["adagrad"]
    lr: PositiveFloat
    lr_decay: NonNegativeFloat = 0.0
    eps: PositiveFloat = 1e-10
    weight_decay: NonNegativeFloat = 0.0


OptimConfig = Annotated[
    SGDConfig | AdamConfig | RMSpropConfig | AdadeltaConfig | AdagradConfig,
    Field(discriminator="name"),
]
OPTIMIZER_NAMES = tuple(OPTIMIZERS)


class TrainerConfig(Strict):
    epochs: PositiveInt
    batch_size: PositiveInt
    test_batch_size: PositiveInt
    loss: Literal[tuple(LOSSES)]  # type: ignore[valid-type]
    threshold: Probability = 0.9  # accuracy for the examples-seen-until metrics
    accuracy_window: PositiveInt = 1000  # examples the running train accuracy is taken over


# Keys that do not change what a trial computes, so they stay out of its id.
NOT_HASHED: dict[str, Any] = {"data": {"standin", "download"}, "model": {"note"}}


class TrialConfig(Strict):
    """Everything a trial's result depends on; its JSON form (less NOT_HASHED) is its id."""

    data: DataConfig
    model: ModelConfig
    optim: OptimConfig
    trainer: TrainerConfig
    seed: Annotated[int, Field(ge=0)]


TRACKING_SCHEMES = ("sqlite:///", "http://", "https://", "postgresql://", "mysql://", "databricks")


class TrackingConfig(Strict):
    uri: str  # MLflow 3 refuses the old file store: a sqlite:/// file or a tracking server

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

    @field_validator("data_root", "storage")
    @classmethod
    def _absolute(cls, value: str, info: ValidationInfo) -> str:
        """Relative paths are taken from the directory `sweep` starts in; a storage URI is kept as written."""
        if "://" not in value:
            return str(Path(value).expanduser().absolute())
        if info.field_name == "data_root":
            raise ValueError("must be a local folder (torchvision reads files), not a URI")
        return value


class RuntimeConfig(Strict):
    """Where trials run and are recorded: the same for every trial of one invocation."""

    offline: bool
    tracking: TrackingConfig
    resources: ResourcesConfig
    paths: PathsConfig


class QuestionConfig(Strict):
    id: str = Field(pattern=r"^[a-z0-9_]+$")
    text: str
    note: str | None = None
    grid: dict[str, list[Any]] = Field(default_factory=dict)  # cartesian product, in written order
    variants: list[dict[str, Any]] = Field(default_factory=list)  # or an explicit list
    reference: dict[str, Any] | None = None  # the variant the others are compared with
    repeats: PositiveInt = 1  # trials per variant that differ only in seed (seed, seed+1, …)

    @model_validator(mode="after")
    def _one_way_of_listing_variants(self) -> QuestionConfig:
        if bool(self.grid) == bool(self.variants):
            raise ValueError(f"question {self.id}: give exactly one of `grid` or `variants`")
        if any(not values for values in self.grid.values()):
            raise ValueError(f"question {self.id}: every grid key needs at least one value")
        return self


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
        return self


def describe_validation_error(error: ValidationError, prefix: str = "") -> str:
    """The first error as one line: `optim.lr: Input should be greater than 0 (got -1)`."""
    first = error.errors(include_url=False)[0]
    loc = [str(part) for part in first["loc"]]
    # A discriminated union puts the chosen tag into the path (optim.sgd.lr): drop it.
    if len(loc) > 2 and loc[0] == "optim" and loc[1] in OPTIMIZER_NAMES:
        del loc[1]
    where = ".".join(([prefix] if prefix else []) + loc)
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "unknown key"
    elif first["type"] == "union_tag_invalid":
        message = f"unknown optimizer; allowed: {', '.join(OPTIMIZER_NAMES)}"
    got = "" if first["type"] in ("missing", "union_tag_invalid") else f" (got {first['input']!r})"
    return f"{where}: {message}{got}" if where else f"{message}{got}"
