"""TF-IDF features as scipy CSR matrices: fitted on the training texts, applied to every split.

scikit-learn's TfidfVectorizer tokenises, counts and weights. Its own `fit` holds the count matrix of
the whole training set at once (its peak is ~2.5× the matrix it returns), so the vocabulary and the
idf are counted here chunk by chunk, by the same rules (the `max_features` most frequent terms among
those in ≥ `min_df` rows, columns in alphabetical order, smooth idf), and the texts are transformed
chunk by chunk: the peak stays near the size of the result. Nothing here makes a dense matrix.

The matrix is always `feature_width` columns wide (word vocabulary, then character vocabulary): a
corpus with fewer distinct terms leaves the last columns empty, so the model's size — and the plan's
parameter count — never depend on the data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

from trainables.text.sizes import feature_width

CHUNK_ROWS = 10_000  # texts counted or transformed at a time: bounds scikit-learn's transient arrays


@dataclass(frozen=True)
class Features:
    train: sp.csr_matrix  # float32 (rows, width), each row L2-normalised per analyzer
    val: sp.csr_matrix
    test: sp.csr_matrix | None
    width: int


def build_features(
    cfg: Mapping[str, Any], train: Sequence[str], val: Sequence[str], test: Sequence[str] | None
) -> Features:
    """Fit the vectorizers of `cfg` on `train`; every split as CSR with the same columns."""
    analyzers = [("word", cfg["word_ngrams"], int(cfg["max_features"]))]
    if cfg.get("char_ngrams"):
        analyzers.append(("char_wb", cfg["char_ngrams"], int(cfg["char_max_features"])))
    fitted = [
        (fit_vectorizer(_vectorizer(cfg, analyzer, ngrams), train, limit, int(cfg["min_df"])), limit)
        for analyzer, ngrams, limit in analyzers
    ]
    width = feature_width(cfg)

    def apply(texts: Sequence[str]) -> sp.csr_matrix:
        chunks = [_chunk_features(fitted, texts[start : start + CHUNK_ROWS]) for start in range(0, len(texts), CHUNK_ROWS)]
        return _stacked_rows(chunks, width)

    return Features(train=apply(train), val=apply(val), test=apply(test) if test is not None else None, width=width)


def _vectorizer(cfg: Mapping[str, Any], analyzer: str, ngrams: Sequence[int]) -> TfidfVectorizer:
    return TfidfVectorizer(
        analyzer=analyzer,
        ngram_range=(int(ngrams[0]), int(ngrams[1])),
        sublinear_tf=bool(cfg["sublinear_tf"]),
        dtype=np.float32,  # what the model computes in: no conversion per batch
    )


def fit_vectorizer(vectorizer: TfidfVectorizer, texts: Sequence[str], max_features: int, min_df: int) -> TfidfVectorizer:
    """`vectorizer` given the vocabulary and idf its `fit(texts)` with these limits would learn."""
    analyze = vectorizer.build_analyzer()
    index: dict[str, int] = {}  # every term seen, in order of first appearance
    frequency = np.zeros(0, dtype=np.int64)  # occurrences in all texts, per term of `index`
    documents = np.zeros(0, dtype=np.int64)  # texts containing it
    for start in range(0, len(texts), CHUNK_ROWS):
        counter = CountVectorizer(analyzer=analyze, dtype=np.int64)
        counts = sp.csr_matrix(counter.fit_transform(texts[start : start + CHUNK_ROWS]))
        terms = counter.get_feature_names_out()
        positions = np.fromiter((index.setdefault(term, len(index)) for term in terms), dtype=np.int64, count=len(terms))
        frequency = np.concatenate([frequency, np.zeros(len(index) - len(frequency), dtype=np.int64)])
        documents = np.concatenate([documents, np.zeros(len(index) - len(documents), dtype=np.int64)])
        frequency[positions] += np.asarray(counts.sum(axis=0)).ravel()
        documents[positions] += np.bincount(counts.indices, minlength=len(terms))
    eligible = np.flatnonzero(documents >= min_df)
    kept = eligible[np.argsort(-frequency[eligible], kind="stable")[:max_features]]  # ties: first seen first
    if not len(kept):
        raise ValueError(f"data.features.min_df: no term occurs in {min_df} or more training rows")
    names = list(index)
    columns = sorted(range(len(kept)), key=lambda k: names[kept[k]])  # alphabetical, as scikit-learn
    vectorizer.set_params(vocabulary={names[kept[k]]: column for column, k in enumerate(columns)})
    # scikit-learn's smooth idf: ln((1 + rows) / (1 + df)) + 1, in the matrix's dtype.
    rows = np.float32(len(texts) + 1)
    vectorizer.idf_ = np.log(rows / (documents[kept[columns]] + 1).astype(np.float32)) + np.float32(1.0)
    return vectorizer


def _chunk_features(fitted: list[tuple[TfidfVectorizer, int]], texts: Sequence[str]) -> sp.csr_matrix:
    """The rows of `texts`: each vectorizer's columns (as many as its vocabulary limit), side by side."""
    parts = [_widened(vectorizer.transform(texts), width) for vectorizer, width in fitted]
    return parts[0] if len(parts) == 1 else sp.hstack(parts, format="csr")


def _widened(matrix: sp.spmatrix, width: int) -> sp.csr_matrix:
    """The same rows, `width` columns wide, sharing the arrays (the extra columns hold no entries)."""
    csr = sp.csr_matrix(matrix)
    return sp.csr_matrix((csr.data, csr.indices, csr.indptr), shape=(csr.shape[0], width), copy=False)


def _stacked_rows(chunks: list[sp.csr_matrix], width: int) -> sp.csr_matrix:
    """One CSR from row chunks (the list is emptied). Each array is joined and its pieces let go before
    the next, so the peak is 1.5× the result rather than 2× (scipy's vstack joins all at once)."""
    ends = np.cumsum([chunk.nnz for chunk in chunks])
    indptr = np.concatenate([[0]] + [chunk.indptr[1:] + end - chunk.nnz for chunk, end in zip(chunks, ends, strict=True)])
    values = [chunk.data for chunk in chunks]
    columns = [chunk.indices for chunk in chunks]
    chunks.clear()
    data = np.concatenate(values)
    values.clear()
    indices = np.concatenate(columns)
    columns.clear()
    return sp.csr_matrix((data, indices, indptr.astype(indices.dtype)), shape=(len(indptr) - 1, width), copy=False)
