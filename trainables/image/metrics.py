"""Classification metrics on whole tensors (no per-example Python)."""

from __future__ import annotations

import torch


def confusion_matrix(predicted: torch.Tensor, target: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Counts (num_classes × num_classes): row = true class, column = predicted class."""
    flat = target.to(torch.int64) * num_classes + predicted.to(torch.int64)
    return torch.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def first_crossing(
    batch_sizes: torch.Tensor, batch_correct: torch.Tensor, threshold: float, window: int
) -> int | None:
    """Examples seen when the accuracy over the last ≥ `window` examples first reaches `threshold`.

    `batch_sizes` and `batch_correct` are per-batch counts in training order. The window is the
    shortest run of trailing batches holding at least `window` examples; None if never reached.
    """
    zero = torch.zeros(1, dtype=torch.int64)
    seen = torch.cat([zero, torch.cumsum(batch_sizes.to(torch.int64), 0)])  # at batch boundaries
    right = torch.cat([zero, torch.cumsum(batch_correct.to(torch.int64), 0)])
    end = seen[1:]
    # The latest boundary s with end - seen[s] >= window; -1 while fewer than `window` were seen.
    start = torch.searchsorted(seen, end - window, right=True) - 1
    full = start >= 0
    start = start.clamp(min=0)
    examples = end - seen[start]
    correct = right[1:] - right[start]
    reached = full & (correct.double() >= threshold * examples.double())
    hits = torch.nonzero(reached)
    return int(end[hits[0, 0]]) if len(hits) else None
