"""Training losses by config name (schema.LOSS_NAMES): each takes the model's output and class ids (N,)."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _mse_one_hot(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error against one-hot targets (Keras' `mse` with categorical labels).

    The one-hot rows by comparison (not F.one_hot, which checks the labels' range on the host and so
    cannot run inside a pack's vmap or a captured CUDA graph)."""
    classes = torch.arange(output.shape[1], device=target.device)
    return F.mse_loss(output, (target[:, None] == classes).to(output.dtype))


def _crossentropy_on_probabilities(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Keras' sparse categorical cross-entropy after a softmax layer (probabilities clipped at 1e-7)."""
    return F.nll_loss(torch.log(output.clamp(1e-7, 1.0 - 1e-7)), target)


LOSSES: dict[str, Loss] = {
    "nll": F.nll_loss,  # the model ends in log_softmax
    "cross_entropy": F.cross_entropy,  # the model ends in raw logits
    "mse": _mse_one_hot,
    "sparse_categorical_crossentropy": _crossentropy_on_probabilities,  # the model ends in softmax
}
