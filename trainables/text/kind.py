"""The multi-label text classifier as a kind of trainable (trainables/kinds.py: "text")."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from trainables.kinds import Kind
from trainables.parameters import count_parameters
from trainables.text.features import check_features_config, feature_width
from trainables.text.loop import train
from trainables.text.models import build_model
from trainables.text.schema import TextTrialConfig
from trainables.text.source import check_data_config, ensure_available


def parameters(config: Mapping[str, Any]) -> int:
    """Checks the settings the schema cannot; builds the model on the meta device and counts it."""
    data = config["data"]
    check_data_config(data)
    check_features_config(data["features"])
    with torch.device("meta"):  # shapes only, no memory
        model = build_model(config["model"], feature_width(data["features"]), len(data["label_columns"]))
    return count_parameters(model)


KIND = Kind(schema=TextTrialConfig, train=train, parameters=parameters, ensure_available=ensure_available)
