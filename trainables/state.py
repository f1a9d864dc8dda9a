"""A trial's resumable state: the seeded model, its optimizer, the shuffling generator and the epochs
done; what `report.checkpoint()` returns and what `train(resume=…)` takes back.

Shared by every kind of trainable that trains a torch model with an optimizer and a shuffling generator.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from trainables.callback import Checkpoint
from trainables.optim import build_optimizer


@dataclass(frozen=True)
class TrialState:
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    shuffle: torch.Generator  # draws every epoch's order of the training examples (and a kind's other draws)
    history: list[dict[str, float]]  # the metrics of every finished epoch, in order
    device: torch.device

    def checkpoint(self) -> Checkpoint:
        """The state that resumes after the last finished epoch, copied now."""
        cuda = {"cuda_rng": torch.cuda.get_rng_state(self.device)} if self.device.type == "cuda" else {}
        return cuda | {
            "model": {name: tensor.detach().cpu().clone() for name, tensor in self.model.state_dict().items()},
            "optimizer": self.optimizer.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "shuffle_rng": self.shuffle.get_state(),
            "history": [dict(metrics) for metrics in self.history],
        }


def start(
    config: Mapping[str, Any], build: Callable[[], torch.nn.Module], device: torch.device, resume: Checkpoint | None
) -> TrialState:
    """Seeded by config.seed: the model `build` makes (on `device`), its optimizer (config.optim) and the
    shuffling generator; `resume` loaded into them when given."""
    torch.manual_seed(config["seed"])
    model = build()
    optimizer = build_optimizer(model.parameters(), config["optim"])
    shuffle = torch.Generator().manual_seed(config["seed"])
    history = _restore(resume, model, optimizer, shuffle, device) if resume is not None else []
    return TrialState(model, optimizer, shuffle, history, device)


def _restore(
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
