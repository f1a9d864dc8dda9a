"""Classification metrics on whole tensors (no per-example Python)."""

from __future__ import annotations

import torch


def confusion_matrix(predicted: torch.Tensor, target: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Counts (num_classes × num_classes): row = true class, column = predicted class."""
    flat = target.to(torch.int64) * num_classes + predicted.to(torch.int64)
    return torch.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)
