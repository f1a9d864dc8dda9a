"""Typed configs the trainables accept, checked before any trial starts.

Shared pieces (the strict base, optimizers) and the image classifier's trial config. A trial config
holds everything a trial's result depends on; its JSON form, less `NOT_HASHED`, is the trial's id.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

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
    epochs: Annotated[int, Field(ge=0)]  # 0: evaluate the starting weights only (a stage with train: false)
    batch_size: PositiveInt
    test_batch_size: PositiveInt
    loss: Literal[tuple(LOSSES)]  # type: ignore[valid-type]
    threshold: Probability = 0.9  # accuracy for the examples-seen-until metrics
    accuracy_window: PositiveInt = 1000  # examples the running train accuracy is taken over


class TrialBase(Strict):
    """What every kind of trial config has: which trainable runs it, and its seed."""

    # Keys that do not change what a trial computes, so they stay out of its id.
    NOT_HASHED: ClassVar[dict[str, Any]] = {"data": {"standin", "download"}}

    trainable: str = "image"
    seed: Annotated[int, Field(ge=0)]


class ImageTrialConfig(TrialBase):
    """An image classifier's trial (trainables/loop.py)."""

    NOT_HASHED: ClassVar[dict[str, Any]] = {"data": {"standin", "download"}, "model": {"note"}}

    trainable: Literal["image"] = "image"
    init_from: str | None = None  # id of the trial whose final weights this one starts from (a stage)
    data: DataConfig
    model: ModelConfig
    optim: OptimConfig
    trainer: TrainerConfig
