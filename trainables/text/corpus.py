"""A labelled text corpus: read from a CSV (every row checked) or generated, then split by position.

A malformed CSV stops with one line naming the file, the row and the column: rows are counted from
1 after the header, and the file line the row starts on is given too (a quoted text may span lines).
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trainables.data import DataUnavailableError
from trainables.text.schema import SAMPLE_SOURCE

LABEL_VALUES = {"0": 0, "1": 1}


class CorpusError(ValueError):
    """The CSV (or the config naming its columns) cannot be used; the message is one line."""


@dataclass(frozen=True)
class Corpus:
    texts: list[str]
    labels: np.ndarray  # float32 (rows, labels): 0 or 1, the targets of the sigmoid outputs
    label_names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.texts)

    def rows(self, start: int, stop: int) -> Corpus:
        return Corpus(self.texts[start:stop], self.labels[start:stop], self.label_names)


@dataclass(frozen=True)
class CorpusSplits:
    train: Corpus
    val: Corpus
    test: Corpus | None  # None when data.test_split is 0


def csv_path(cfg: Mapping[str, Any], root: str | Path) -> Path:
    """data.path under paths.data_root (an absolute data.path stays as written)."""
    return Path(root) / str(cfg["path"])


def load_corpus(cfg: Mapping[str, Any], root: str | Path) -> Corpus:
    """The corpus of `cfg["source"]`: the CSV at data.path, or the bundled generated sample."""
    if cfg["source"] == SAMPLE_SOURCE:
        # Imported here: sample.py builds this module's Corpus.
        from trainables.text.sample import generate_sample

        sample = generate_sample(int(cfg["sample_size"]))
        columns = [sample.label_names.index(name) for name in cfg["label_columns"]]
        return Corpus(sample.texts, np.ascontiguousarray(sample.labels[:, columns]), tuple(cfg["label_columns"]))
    return read_csv_corpus(csv_path(cfg, root), cfg["text_column"], cfg["label_columns"])  # CSV_SOURCE


def read_csv_corpus(path: Path, text_column: str, label_columns: Sequence[str]) -> Corpus:
    """Every row's text and 0/1 labels; raises CorpusError at the first bad row, DataUnavailableError if no file."""
    if not path.is_file():
        raise DataUnavailableError(
            f"missing {path.name} in {path.parent}; copy the CSV there (data.path), or set offline=true to use the bundled sample"
        )
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise CorpusError(f"{path}: the file is empty; it needs a header row naming its columns")
        positions = [_column_position(header, column, path) for column in (text_column, *label_columns)]
        needed = max(positions) + 1
        texts: list[str] = []
        labels = bytearray()  # one byte per label, row after row
        line = reader.line_num
        for row in reader:
            where = f"{path} row {len(texts) + 1} (line {line + 1})"
            line = reader.line_num
            if len(row) < needed:
                missing = next(c for c, p in zip((text_column, *label_columns), positions, strict=True) if p >= len(row))
                raise CorpusError(f"{where}, column {missing!r}: missing (the row has {len(row)} fields, the header {len(header)})")
            text = row[positions[0]]
            if not text.strip():
                raise CorpusError(f"{where}, column {text_column!r}: the text is empty")
            for column, position in zip(label_columns, positions[1:], strict=True):
                value = LABEL_VALUES.get(row[position].strip())
                if value is None:
                    raise CorpusError(f"{where}, column {column!r}: a label must be 0 or 1 (got {row[position]!r})")
                labels.append(value)
            texts.append(text)
    if not texts:
        raise CorpusError(f"{path}: no rows after the header")
    matrix = np.frombuffer(bytes(labels), dtype=np.uint8).reshape(len(texts), len(label_columns)).astype(np.float32)
    return Corpus(texts, matrix, tuple(label_columns))


def _column_position(header: list[str], column: str, path: Path) -> int:
    if column not in header:
        raise CorpusError(f"{path} line 1 (header), column {column!r}: missing; the header has {', '.join(header)}")
    return header.index(column)


def split_corpus(corpus: Corpus, validation_split: float, test_split: float) -> CorpusSplits:
    """Train, validation and test rows by position: validation is the last `validation_split` of the
    rows before the test rows, which are the very last `test_split` (as Keras' validation_split)."""
    rows = len(corpus)
    test = max(1, round(rows * test_split)) if test_split > 0 else 0
    val = max(1, round(rows * validation_split))
    train = rows - val - test
    if train < 1:
        raise CorpusError(f"data: {rows} rows leave none to train on after {val} validation and {test} test rows")
    return CorpusSplits(
        train=corpus.rows(0, train),
        val=corpus.rows(train, train + val),
        test=corpus.rows(train + val, rows) if test else None,
    )


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
        # Imported here: sample.py builds this module's Corpus.
        from trainables.text.sample import SAMPLE_LABELS

        unknown = [name for name in labels if name not in SAMPLE_LABELS]
        if unknown:
            raise ValueError(
                f"data.label_columns: the {SAMPLE_SOURCE} stand-in has no label {unknown[0]!r}; "
                f"allowed: {', '.join(SAMPLE_LABELS)}"
            )
