"""The trial config of a training function of the user's own: the fields every trial shares are checked
(seed, trainer.epochs, optim), the rest is passed to the function as written. Torch-free.

Everything in it is part of the trial's id, extra keys included: the service cannot tell which of them the
function reads, so it assumes all of them.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from trainables.schema import OptimConfig, PositiveInt, TrialBase

TRAINABLE_PATTERN = r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$|^[A-Za-z_][\w.-]*$"  # MODULE:FUNCTION or an entry point's name


class Open(BaseModel):
    """Strict about the fields it names; any other key is kept as written."""

    model_config = ConfigDict(extra="allow", strict=True, frozen=True)


class FunctionDataConfig(Open):
    source: str | None = None  # what the run records as its data source (tag sweeps.data_source)


class FunctionTrainerConfig(Open):
    epochs: Annotated[int, Field(ge=0)]  # 0: a stage with `train: false` (evaluate the starting weights only)
    batch_size: PositiveInt | None = None


class FunctionTrialConfig(TrialBase):
    """A trial of a training function (trainables/function/resolve.py)."""

    model_config = ConfigDict(extra="allow", strict=True, frozen=True)
    NOT_HASHED: ClassVar[dict[str, Any]] = {"data": {"standin", "download"}, "model": {"note"}}

    trainable: str = Field(pattern=TRAINABLE_PATTERN)
    init_from: str | None = None  # id of the trial whose final checkpoint this one starts from (a stage)
    trainer: FunctionTrainerConfig
    optim: OptimConfig | None = None
    data: FunctionDataConfig = Field(default_factory=FunctionDataConfig)
    model: Open | None = None
