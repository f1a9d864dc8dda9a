"""TF-IDF features as scipy CSR matrices: fitted on the training texts, applied to the other splits.

The matrix is always `feature_width` columns wide (word vocabulary, then character vocabulary): a
corpus with fewer distinct terms leaves the last columns empty, so the model's size — and the plan's
parameter count — never depend on the data. Nothing here ever makes a dense copy of a matrix.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer


@dataclass(frozen=True)
class Features:
    train: sp.csr_matrix  # float32 (rows, width), each row L2-normalised per analyzer
    val: sp.csr_matrix
    test: sp.csr_matrix | None
    width: int


def feature_width(cfg: Mapping[str, Any]) -> int:
    """Input columns: data.features.max_features, plus char_max_features when char n-grams are on."""
    return int(cfg["max_features"]) + (int(cfg["char_max_features"]) if cfg.get("char_ngrams") else 0)


def check_features_config(cfg: Mapping[str, Any]) -> None:
    """Plan-time check across feature keys; ValueError with one line naming the key."""
    if cfg.get("char_ngrams") and not cfg.get("char_max_features"):
        raise ValueError("data.features.char_max_features: required with data.features.char_ngrams (got None)")


def build_features(
    cfg: Mapping[str, Any], train: Sequence[str], val: Sequence[str], test: Sequence[str] | None
) -> Features:
    """Fit the vectorizers of `cfg` on `train`; every split as CSR with the same columns."""
    vectorizers = [(_vectorizer(cfg, "word", cfg["word_ngrams"], cfg["max_features"]), int(cfg["max_features"]))]
    if cfg.get("char_ngrams"):
        char_width = int(cfg["char_max_features"])
        vectorizers.append((_vectorizer(cfg, "char_wb", cfg["char_ngrams"], char_width), char_width))
    fitted = [_widened(vectorizer.fit_transform(train), width) for vectorizer, width in vectorizers]

    def apply(texts: Sequence[str]) -> sp.csr_matrix:
        return _joined([_widened(vectorizer.transform(texts), width) for vectorizer, width in vectorizers])

    return Features(
        train=_joined(fitted),
        val=apply(val),
        test=apply(test) if test is not None else None,
        width=feature_width(cfg),
    )


def _vectorizer(cfg: Mapping[str, Any], analyzer: str, ngrams: Sequence[int], max_features: int) -> TfidfVectorizer:
    return TfidfVectorizer(
        analyzer=analyzer,
        ngram_range=(int(ngrams[0]), int(ngrams[1])),
        max_features=int(max_features),
        min_df=int(cfg["min_df"]),
        sublinear_tf=bool(cfg["sublinear_tf"]),
        dtype=np.float32,  # what the model computes in: no conversion per batch
    )


def _widened(matrix: sp.spmatrix, width: int) -> sp.csr_matrix:
    """The same rows, `width` columns wide; shares the arrays (the extra columns hold no entries)."""
    csr = sp.csr_matrix(matrix)
    return sp.csr_matrix((csr.data, csr.indices, csr.indptr), shape=(csr.shape[0], width), copy=False)


def _joined(parts: list[sp.csr_matrix]) -> sp.csr_matrix:
    """Side by side (one part: itself, not a copy)."""
    return parts[0] if len(parts) == 1 else sp.hstack(parts, format="csr").astype(np.float32, copy=False)
