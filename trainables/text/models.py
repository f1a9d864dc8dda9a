"""Models on sparse TF-IDF rows: logistic regression (one linear layer, a sigmoid output per label)
and an MLP (sparse linear → ReLU → dropout → linear). Both output one logit per label.

A batch reaches the model as its rows' non-zero entries only (`SparseBatch`): the first layer is an
`EmbeddingBag` in sum mode weighted by the TF-IDF values, i.e. the sparse product x·W, so no dense
row of `width` columns is ever made — not for the corpus, not even for the batch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from trainables.text.sizes import linear_maps


class SparseBatch(NamedTuple):
    """Rows of a CSR matrix as the first layer takes them."""

    columns: torch.Tensor  # int64 (nnz,): column of each non-zero entry, row after row
    offsets: torch.Tensor  # int64 (rows,): where each row's entries start in `columns`
    values: torch.Tensor  # float32 (nnz,): the TF-IDF values

    @property
    def rows(self) -> int:
        return int(self.offsets.shape[0])


def sparse_batch(rows: sp.csr_matrix, device: torch.device) -> SparseBatch:
    """The batch's CSR arrays as tensors on `device` (a copy of the batch's non-zeros, nothing more)."""
    return SparseBatch(
        columns=torch.from_numpy(rows.indices.astype(np.int64)).to(device),
        offsets=torch.from_numpy(rows.indptr[:-1].astype(np.int64)).to(device),
        values=torch.from_numpy(np.asarray(rows.data, dtype=np.float32)).to(device),
    )


class SparseLinear(nn.Module):
    """y = x·W + b for sparse x: the same parameters and initialisation as nn.Linear(width, units)."""

    def __init__(self, width: int, units: int) -> None:
        super().__init__()
        self.bag = nn.EmbeddingBag(width, units, mode="sum")  # weight (width, units): row j belongs to column j
        self.bias = nn.Parameter(torch.empty(units))
        bound = 1.0 / math.sqrt(width)  # nn.Linear's uniform bound, so both models start alike
        nn.init.uniform_(self.bag.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, batch: SparseBatch) -> torch.Tensor:
        return self.bag(batch.columns, batch.offsets, per_sample_weights=batch.values) + self.bias


class SparseInputClassifier(nn.Module):
    """The sparse first layer, then dense layers on its (rows, units) output."""

    def __init__(self, first: SparseLinear, rest: nn.Sequential) -> None:
        super().__init__()
        self.first = first
        self.rest = rest

    def forward(self, batch: SparseBatch) -> torch.Tensor:
        return self.rest(self.first(batch))


def build_model(cfg: Mapping[str, Any], width: int, labels: int) -> SparseInputClassifier:
    """The model `cfg` names, taking `width` TF-IDF columns to `labels` logits (its maps: sizes.linear_maps)."""
    maps = linear_maps(cfg, width, labels)
    first = SparseLinear(*maps[0])  # built first: the weights' initialisation draws in this order
    if len(maps) == 1:  # logistic regression
        return SparseInputClassifier(first, nn.Sequential())
    return SparseInputClassifier(first, nn.Sequential(nn.ReLU(), nn.Dropout(float(cfg["dropout"])), nn.Linear(*maps[1])))
