"""The image classifier as a kind of trainable: layer-list models on in-memory image tensors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from trainables.image.data import data_shape, ensure_available
from trainables.image.loop import train
from trainables.image.model import build_model
from trainables.image.schema import ImageTrialConfig
from trainables.kinds import Kind
from trainables.parameters import count_parameters


def parameters(config: Mapping[str, Any]) -> int:
    """Builds the model on the meta device: shapes checked, parameters counted, no memory used."""
    input_shape, num_classes = data_shape(config["data"])
    with torch.device("meta"):
        return count_parameters(build_model(config["model"], input_shape, num_classes))


KIND = Kind(schema=ImageTrialConfig, train=train, parameters=parameters, ensure_available=ensure_available)
