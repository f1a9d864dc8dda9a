"""A trial's resumable state: the seeded model, its optimizer, its generators and the epochs done;
what `report.checkpoint()` returns and what `train(resume=…)` takes back.

Shared by every kind of trainable that trains a torch model with an optimizer. A trial owns two
generators, both seeded by config.seed, so its randomness is its own (the same alone, in a pack of
trials, or replayed from a captured CUDA graph): `shuffle` on the CPU draws the order of the training
examples and a kind's other data draws (crops); `noise` on the trial's device draws its dropout masks.
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
    shuffle: torch.Generator  # CPU: every epoch's order of the training examples (and a kind's other draws)
    noise: torch.Generator  # on `device`: dropout masks
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
            "noise_rng": self.noise.get_state(),
            "noise_device": self.device.type,
            "history": [dict(metrics) for metrics in self.history],
        }


def start(
    config: Mapping[str, Any],
    build: Callable[[], torch.nn.Module],
    device: torch.device,
    resume: Checkpoint | None,
    capturable: bool = False,
) -> TrialState:
    """Seeded by config.seed: the model `build` makes (on `device`), its optimizer (config.optim; its
    state kept on the device where `capturable`, for CUDA graphs) and the two generators; `resume`
    loaded into them when given."""
    torch.manual_seed(config["seed"])
    model = build()
    optimizer = build_optimizer(model.parameters(), config["optim"], capturable)
    shuffle = torch.Generator().manual_seed(config["seed"])
    noise = torch.Generator(device=device).manual_seed(config["seed"])
    state = TrialState(model, optimizer, shuffle, noise, [], device)
    if resume is not None:
        state.history.extend(_restore(resume, state))
    return state


def _restore(resume: Checkpoint, state: TrialState) -> list[dict[str, float]]:
    """Load `resume` into the trial; the epochs it had finished.

    Weights alone (a stage starting from another trial's) load into the model only: a fresh start.
    """
    state.model.load_state_dict(resume["model"])
    if "optimizer" not in resume:
        return []
    state.optimizer.load_state_dict(_with_settings_of(state.optimizer, resume["optimizer"]))
    torch.set_rng_state(resume["torch_rng"])
    if state.device.type == "cuda" and "cuda_rng" in resume:
        torch.cuda.set_rng_state(resume["cuda_rng"], state.device)
    state.shuffle.set_state(resume["shuffle_rng"])
    if resume.get("noise_device") == state.device.type:
        state.noise.set_state(resume["noise_rng"])
    else:  # resumed on another kind of device (its generator's state has another form): fresh, reproducible noise
        state.noise.manual_seed(int(state.shuffle.initial_seed()) + len(resume["history"]))
    return list(resume["history"])


_PLACEMENT_SETTINGS = ("capturable", "foreach", "fused")  # how an optimizer runs here, not what it computes


def _with_settings_of(optimizer: torch.optim.Optimizer, saved: dict[str, Any]) -> dict[str, Any]:
    """`saved` with this optimizer's own placement settings: a checkpoint taken on another device (or
    with CUDA graphs off) resumes with the settings this device needs."""
    groups = [
        {**group, **{key: own[key] for key in _PLACEMENT_SETTINGS if key in own}}
        for group, own in zip(saved["param_groups"], optimizer.param_groups, strict=True)
    ]
    return {**saved, "param_groups": groups}
