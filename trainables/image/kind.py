"""The image classifier as a kind of trainable: layer-list models on in-memory image tensors.

Torch-free until a trial trains: the schema, the parameter count and the file checks are plain Python.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trainables.image.layers import plan_model
from trainables.image.schema import ImageTrialConfig
from trainables.image.sources import data_shape, ensure_available
from trainables.kinds import Kind


def parameters(config: Mapping[str, Any]) -> int:
    """The model checked against the data's shape (ModelSpecError), and its trainable parameters."""
    input_shape, num_classes = data_shape(config["data"])
    return plan_model(config["model"], input_shape, num_classes).parameters


KIND = Kind(
    schema=ImageTrialConfig,
    trainer="trainables.image.loop:train",
    parameters=parameters,
    ensure_available=ensure_available,
)
