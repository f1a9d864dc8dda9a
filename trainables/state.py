"""A trial's resumable state: what `report.checkpoint()` returns and what `train(resume=…)` takes back.

Shared by every kind of trainable that trains a torch model with an optimizer and a shuffling generator.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from trainables.callback import Checkpoint


def checkpointer(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    shuffle: torch.Generator,
    history: list[dict[str, float]],
    device: torch.device,
) -> Callable[[], Checkpoint]:
    def take() -> Checkpoint:
        cuda = {"cuda_rng": torch.cuda.get_rng_state(device)} if device.type == "cuda" else {}
        return cuda | {
            "model": {name: tensor.detach().cpu().clone() for name, tensor in model.state_dict().items()},
            "optimizer": optimizer.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "shuffle_rng": shuffle.get_state(),
            "history": [dict(metrics) for metrics in history],
        }

    return take


def restore(
    resume: Checkpoint, model: torch.nn.Module, optimizer: torch.optim.Optimizer, shuffle: torch.Generator, device: torch.device
) -> list[dict[str, float]]:
    """Load `resume` into the trial; the epochs it had finished.

    Weights alone (a stage starting from another trial's) load into the model only: a fresh start.
    """
    model.load_state_dict(resume["model"])
    if "optimizer" not in resume:
        return []
    optimizer.load_state_dict(resume["optimizer"])
    torch.set_rng_state(resume["torch_rng"])  # dropout continues where it was
    if device.type == "cuda":
        torch.cuda.set_rng_state(resume["cuda_rng"], device)
    shuffle.set_state(resume["shuffle_rng"])
    return list(resume["history"])
