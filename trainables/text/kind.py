"""The multi-label text classifier as a kind of trainable (trainables/kinds.py: "text")."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from trainables.data import DataUnavailableError
from trainables.kinds import Kind
from trainables.model import count_parameters
from trainables.text.corpus import (
    CorpusError,
    check_data_config,
    csv_path,
    read_csv_corpus,
)
from trainables.text.features import check_features_config, feature_width
from trainables.text.loop import train
from trainables.text.models import build_model
from trainables.text.schema import CSV_SOURCE, TextTrialConfig


def parameters(config: Mapping[str, Any]) -> int:
    """Checks the settings the schema cannot; builds the model on the meta device and counts it."""
    data = config["data"]
    check_data_config(data)
    check_features_config(data["features"])
    with torch.device("meta"):  # shapes only, no memory
        model = build_model(config["model"], feature_width(data["features"]), len(data["label_columns"]))
    return count_parameters(model)


def ensure_available(data: Mapping[str, Any], root: str | Path) -> None:
    """The CSV is there and every row of it is well formed, before any trial starts; the sample needs nothing."""
    if data["source"] != CSV_SOURCE:
        return
    try:
        read_csv_corpus(csv_path(data, root), data["text_column"], data["label_columns"])
    except CorpusError as error:  # the runner stops the run on this error class, with its one line
        raise DataUnavailableError(str(error)) from error


KIND = Kind(schema=TextTrialConfig, train=train, parameters=parameters, ensure_available=ensure_available)
