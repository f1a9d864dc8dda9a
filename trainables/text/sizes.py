"""The text classifier's sizes in pure Python: its input width, its model's linear maps and their
parameter count, with the feature and model rules the schema alone cannot state.

The planner counts from here without torch or scikit-learn; features.py makes matrices `feature_width`
wide and models.py builds its layers from `linear_maps`, so the count is the built model's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def feature_width(cfg: Mapping[str, Any]) -> int:
    """Input columns: data.features.max_features, plus char_max_features when char n-grams are on."""
    return int(cfg["max_features"]) + (int(cfg["char_max_features"]) if cfg.get("char_ngrams") else 0)


def check_features_config(cfg: Mapping[str, Any]) -> None:
    """Plan-time check across feature keys; ValueError with one line naming the key."""
    if cfg.get("char_ngrams") and not cfg.get("char_max_features"):
        raise ValueError("data.features.char_max_features: required with data.features.char_ngrams (got None)")


def check_model_config(cfg: Mapping[str, Any]) -> None:
    """What the schema alone cannot say; ValueError with one line naming the key."""
    if cfg["architecture"] == "logistic_regression":
        if cfg.get("hidden") is not None:
            raise ValueError(f"model.hidden: a logistic regression has no hidden layer (got {cfg['hidden']}); use model=text_mlp")
        if cfg.get("dropout", 0.0):
            raise ValueError(f"model.dropout: a logistic regression has no hidden layer to drop units of (got {cfg['dropout']})")
    elif cfg.get("hidden") is None:
        raise ValueError("model.hidden: the mlp needs the units of its hidden layer (got None)")


def linear_maps(cfg: Mapping[str, Any], width: int, labels: int) -> list[tuple[int, int]]:
    """(inputs, outputs) of each linear map with a bias, in order: the first takes the sparse rows.

    logistic_regression: width → labels; mlp: width → hidden, then (after ReLU and dropout) hidden → labels.
    """
    check_model_config(cfg)
    if cfg["architecture"] == "logistic_regression":
        return [(width, labels)]
    hidden = int(cfg["hidden"])
    return [(width, hidden), (hidden, labels)]


def parameter_count(cfg: Mapping[str, Any], width: int, labels: int) -> int:
    """Trainable parameters of the model `cfg` names: a weight per input and output, a bias per output."""
    return sum(inputs * outputs + outputs for inputs, outputs in linear_maps(cfg, width, labels))
