"""Typed config of an image classifier's trial: its data, model and trainer, checked before any trial starts.

Torch-free: the names it allows (sources, losses) are plain constants, each matched by a torch registry
(data.LOADERS, losses.LOSSES) that tests hold to the same keys. Layer lists are checked by layers.py.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field

from trainables.image.sources import SOURCES
from trainables.schema import OptimConfig, PositiveFloat, PositiveInt, Probability, Strict, TrialBase

# valid-type: a Literal of names known only at run time (pydantic checks against them; mypy cannot).
DataSource = Literal[SOURCES]  # type: ignore[valid-type]

# trainer.loss: the names of losses.LOSSES.
LOSS_NAMES: tuple[str, ...] = ("nll", "cross_entropy", "mse", "sparse_categorical_crossentropy")


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


class TrainerConfig(Strict):
    epochs: Annotated[int, Field(ge=0)]  # 0: evaluate the starting weights only (a stage with train: false)
    batch_size: PositiveInt
    test_batch_size: PositiveInt
    loss: Literal[LOSS_NAMES]  # type: ignore[valid-type]  # run-time names, as DataSource
    threshold: Probability = 0.9  # accuracy for the examples-seen-until metrics
    accuracy_window: PositiveInt = 1000  # examples the running train accuracy is taken over


class ImageTrialConfig(TrialBase):
    """An image classifier's trial (trainables/image/loop.py)."""

    NOT_HASHED: ClassVar[dict[str, Any]] = {"data": {"standin", "download"}, "model": {"note"}}

    trainable: Literal["image"] = "image"
    init_from: str | None = None  # id of the trial whose final weights this one starts from (a stage)
    data: DataConfig
    model: ModelConfig
    optim: OptimConfig
    trainer: TrainerConfig
