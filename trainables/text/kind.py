"""The multi-label text classifier as a kind of trainable (trainables/kinds.py: "text").

Torch-free until a trial trains: the plan-time checks and the parameter count are plain Python.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from trainables.kinds import Kind
from trainables.text.schema import TextTrialConfig
from trainables.text.sizes import check_features_config, feature_width, parameter_count
from trainables.text.source import check_data_config, ensure_available


def parameters(config: Mapping[str, Any], data_root: str | Path) -> int:
    """Checks the settings the schema cannot, and counts the model's trainable parameters (from the
    settings alone: the corpus under `data_root` is read when a trial trains)."""
    data = config["data"]
    check_data_config(data)
    check_features_config(data["features"])
    return parameter_count(config["model"], feature_width(data["features"]), len(data["label_columns"]))


KIND = Kind(
    schema=TextTrialConfig,
    trainer="trainables.text.loop:train",
    parameters=parameters,
    ensure_available=ensure_available,
)
