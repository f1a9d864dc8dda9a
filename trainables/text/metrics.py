"""Multi-label metrics on whole arrays: ROC AUC per label (as scikit-learn's roc_auc_score) and their mean.

AUC is the Mann–Whitney statistic: the chance that a random positive scores above a random negative,
ties counting one half — computed from average ranks, so equal to the area under the ROC curve.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.stats import rankdata


def roc_auc_per_label(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(labels,) AUCs of scores (rows, labels) against 0/1 labels (rows, labels); NaN where a label's
    column holds one class only (AUC is undefined there; scikit-learn raises)."""
    ranks = rankdata(scores, method="average", axis=0)  # ties share their mean rank
    positive = labels > 0.5
    positives = positive.sum(axis=0).astype(np.float64)
    negatives = positive.shape[0] - positives
    rank_sum = np.where(positive, ranks, 0.0).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        auc = (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)
    return np.where((positives > 0) & (negatives > 0), auc, np.nan)


def auc_metrics(prefix: str, scores: np.ndarray, labels: np.ndarray, names: Sequence[str]) -> dict[str, float]:
    """`{prefix}_auc` (mean column-wise AUC, the Kaggle metric) and `{prefix}_auc_{label}` per label.

    A label whose split has one class only has no AUC: it is left out, and out of the mean.
    """
    per_label = roc_auc_per_label(scores, labels)
    defined = {name: float(auc) for name, auc in zip(names, per_label, strict=True) if not np.isnan(auc)}
    mean = {f"{prefix}_auc": float(np.mean(list(defined.values())))} if defined else {}
    return mean | {f"{prefix}_auc_{name}": auc for name, auc in defined.items()}


def labelwise_accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Share of (row, label) pairs right when each sigmoid output is cut at 0.5 (logit 0)."""
    return float(((logits > 0) == (labels > 0.5)).mean())
