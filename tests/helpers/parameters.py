"""A built torch model's trainable-parameter count: what every kind's pure plan-time count must equal."""

from __future__ import annotations

from torch import nn


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters (scalars), as reported for the question set."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
