"""Typed config of an image classifier's trial: its data, model and trainer, checked before any trial starts.

Torch-free: the names it allows (sources, losses) are plain constants, each matched by a torch registry
(data.LOADERS, losses.LOSSES) that tests hold to the same keys. Layer lists are checked by layers.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

from pydantic import ConfigDict, Discriminator, Field, Tag

from trainables.image.sources import SOURCES
from trainables.schema import OptimConfig, PositiveFloat, PositiveInt, Probability, Strict, TrialBase

# valid-type: a Literal of names known only at run time (pydantic checks against them; mypy cannot).
DataSource = Literal[SOURCES]  # type: ignore[valid-type]

# trainer.loss: the names of losses.LOSSES.
LOSS_NAMES: tuple[str, ...] = ("nll", "cross_entropy", "mse", "sparse_categorical_crossentropy")


class DataConfig(Strict):
    name: str  # the data set as the study names it: a source's own name, or a folder's (image_folder)
    source: DataSource  # what is loaded: `name`, or its stand-in when offline=true
    standin: DataSource  # offline counterpart; `source` records the choice
    mean: float | Annotated[list[float], Field(min_length=1)]  # one for all channels, or one per channel
    std: PositiveFloat | Annotated[list[PositiveFloat], Field(min_length=1)]
    download: bool = True  # fetch into paths.data_root when missing (online users)
    validation_split: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0  # 0: validate on the test set
    crop: PositiveInt | None = None  # random crops of this side when training, centre crops when evaluating
    size: PositiveInt | None = None  # synthetic: training examples; image_folder: the side images are resized to (pixels)
    test_size: PositiveInt | None = None  # synthetic only
    train_file: str | None = None  # mnist_svmlight only: paths under paths.data_root
    test_file: str | None = None
    path: str | None = None  # image_folder only: the folder holding train/ and test/, under paths.data_root unless absolute
    channels: Literal[1, 3] | None = None  # image_folder only: 1 grey, 3 colour (RGB; the default)


class ModelConfig(Strict):
    """A layer list (layers.py)."""

    name: str
    width: PositiveFloat = 1.0  # multiplier on conv filters and hidden units
    dropout: Probability = 0.5  # p of every layer written `p: ${model.dropout}`
    hidden: PositiveInt | None = None  # units of every layer written `units: ${model.hidden}`
    layers: list[dict[str, Any]] = Field(min_length=1)
    note: str | None = None  # why this model (Q12 asks); prose, not in the trial id


TARGET = "_target_"  # Hydra's key for the callable that builds an object


def is_target(spec: Any) -> bool:
    """Whether a model config names its model by `_target_` (a model from code) rather than by layers."""
    return isinstance(spec, Mapping) and TARGET in spec


class TargetModelConfig(Strict):
    """A model from code (target.py): `_target_` names a class or function that returns a torch module; every
    other key but `name` and `note` is one of its keyword arguments, as written (Hydra's convention)."""

    model_config = ConfigDict(extra="allow", serialize_by_alias=True)

    target: str = Field(alias="_target_", pattern=r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$")  # module.path.Name
    name: str | None = None
    width: PositiveFloat | None = None  # passed as `width` when written
    dropout: Probability | None = None  # passed as `dropout` when written
    note: str | None = None  # prose, not in the trial id


# A model config's form, as validation errors name it (describe_validation_error drops it from the path).
MODEL_FORMS: tuple[str, ...] = ("layer-list", "target")


def _model_form(value: Any) -> str:
    """The form of a model config as data (validating) or as a validated model (serialising)."""
    return MODEL_FORMS[1] if isinstance(value, TargetModelConfig) or is_target(value) else MODEL_FORMS[0]


ModelSpec = Annotated[
    Annotated[ModelConfig, Tag(MODEL_FORMS[0])] | Annotated[TargetModelConfig, Tag(MODEL_FORMS[1])],
    Discriminator(_model_form),
]


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
    model: ModelSpec
    optim: OptimConfig
    trainer: TrainerConfig
