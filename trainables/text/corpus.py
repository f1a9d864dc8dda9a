"""A labelled text corpus, read from a CSV (every row checked), and its split by position.

The generated stand-in (sample.py) builds the same Corpus; source.py picks which a trial reads.

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

from trainables.errors import DataUnavailableError

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
