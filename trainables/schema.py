"""What every kind's trial config is built from: the strict base, the trial base, shared field types
and the optimizer configs. Torch-free: the planner validates configs without importing torch.

A trial config holds everything a trial's result depends on; its JSON form, less `NOT_HASHED`, is the
trial's id. Each kind's own config (data, model, trainer) is in its package: image/schema.py, text/schema.py.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

Probability = Annotated[float, Field(ge=0.0, le=1.0)]
PositiveFloat = Annotated[float, Field(gt=0.0)]
NonNegativeFloat = Annotated[float, Field(ge=0.0)]
PositiveInt = Annotated[int, Field(ge=1)]


class Strict(BaseModel):
    """Unknown keys and silent type coercions are errors (a typo must never be ignored)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


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
# The `name` each optimizer config takes; trainables/optim.py's OPTIMIZERS has the same keys (tested).
OPTIMIZER_NAMES: tuple[str, ...] = tuple(
    get_args(config.model_fields["name"].annotation)[0] for config in get_args(get_args(OptimConfig)[0])
)


DEFAULT_TRAINABLE = "image"  # the kind of a trial config that names none


class TrialBase(Strict):
    """What every kind of trial config has: which trainable runs it, and its seed."""

    # Keys that do not change what a trial computes, so they stay out of its id.
    NOT_HASHED: ClassVar[dict[str, Any]] = {"data": {"standin", "download"}}

    trainable: str = DEFAULT_TRAINABLE
    seed: Annotated[int, Field(ge=0)]
