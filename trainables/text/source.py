"""Which corpus a text trial reads — the CSV at data.path or the generated stand-in — and its data
settings checked before any trial starts (across keys at plan time, the CSV's rows before the run).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from trainables.errors import DataUnavailableError
from trainables.text.corpus import Corpus, CorpusError, csv_path, read_csv_corpus
from trainables.text.sample import SAMPLE_LABELS, generate_sample
from trainables.text.schema import CSV_SOURCE, SAMPLE_SOURCE


def load_corpus(cfg: Mapping[str, Any], root: str | Path) -> Corpus:
    """The corpus of `cfg["source"]`: the CSV at data.path, or the bundled generated sample."""
    if cfg["source"] == SAMPLE_SOURCE:
        sample = generate_sample(int(cfg["sample_size"]))
        columns = [sample.label_names.index(name) for name in cfg["label_columns"]]
        return Corpus(sample.texts, np.ascontiguousarray(sample.labels[:, columns]), tuple(cfg["label_columns"]))
    return read_csv_corpus(csv_path(cfg, root), cfg["text_column"], cfg["label_columns"])  # CSV_SOURCE


def check_data_config(cfg: Mapping[str, Any]) -> None:
    """Plan-time checks across data keys; ValueError with one line naming the key."""
    labels = list(cfg["label_columns"])
    repeated = sorted({name for name in labels if labels.count(name) > 1})
    if repeated:
        raise ValueError(f"data.label_columns: {repeated[0]!r} is listed twice")
    if cfg["text_column"] in labels:
        raise ValueError(f"data.text_column: {cfg['text_column']!r} is also a label column")
    if cfg["validation_split"] + cfg.get("test_split", 0.0) >= 1.0:
        raise ValueError(
            f"data.test_split: validation_split + test_split must leave rows to train on "
            f"(got {cfg['validation_split']} + {cfg['test_split']})"
        )
    if cfg["source"] == SAMPLE_SOURCE:
        unknown = [name for name in labels if name not in SAMPLE_LABELS]
        if unknown:
            raise ValueError(
                f"data.label_columns: the {SAMPLE_SOURCE} stand-in has no label {unknown[0]!r}; "
                f"allowed: {', '.join(SAMPLE_LABELS)}"
            )


def ensure_available(data: Mapping[str, Any], root: str | Path) -> None:
    """The CSV is there and every row of it is well formed, before any trial starts; the sample needs nothing."""
    if data["source"] != CSV_SOURCE:
        return
    try:
        read_csv_corpus(csv_path(data, root), data["text_column"], data["label_columns"])
    except CorpusError as error:  # the runner stops the run on this error class, with its one line
        raise DataUnavailableError(str(error)) from error
