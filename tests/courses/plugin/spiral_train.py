"""A training function of a course's own (docs/training-functions.md): two interleaved spirals, a small
MLP, and two tricks of its own that no built-in kind has: a linear learning-rate warm-up over the first
`trainer.warmup_steps` steps and gradient clipping at `trainer.clip_norm`.

Config keys it reads: seed; trainer.epochs, trainer.batch_size, trainer.warmup_steps, trainer.clip_norm;
optim (the shared optimizer configs); model.width (hidden units ×32); data.points, data.noise. Any other
key a composed study brings (a layer list, a data set's name) is ignored.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from trainables.callback import Checkpoint, EpochReport, Report
from trainables.optim import build_optimizer
from trainables.placement import Placement


def spirals(points: int, noise: float, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """`points` 2-d points on two interleaved spirals (class 0 and 1), with Gaussian noise."""
    labels = torch.arange(points) % 2
    radius = torch.rand(points, generator=generator) * 3 * math.pi + 0.5
    angle = radius + labels * math.pi
    xy = torch.stack([radius * torch.cos(angle), radius * torch.sin(angle)], dim=1) / (3 * math.pi)
    return xy + noise * torch.randn(points, 2, generator=generator), labels


def train(
    config: Mapping[str, Any],
    data_root: str | Path,
    report: Report,
    placement: Placement = Placement(),
    resume: Checkpoint | None = None,
) -> None:
    trainer, data, model_config = config["trainer"], config.get("data") or {}, config.get("model") or {}
    torch.set_num_threads(placement.threads)
    torch.manual_seed(config["seed"])
    generator = torch.Generator().manual_seed(config["seed"])
    inputs, labels = spirals(int(data.get("points", 600)), float(data.get("noise", 0.05)), generator)
    cut = len(inputs) * 2 // 3
    hidden = max(1, round(32 * float(model_config.get("width", 1.0))))
    model = nn.Sequential(nn.Linear(2, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, 2))
    optimizer = build_optimizer(model.parameters(), config["optim"] or {"name": "adam", "lr": 0.01})
    base_lrs = [group["lr"] for group in optimizer.param_groups]
    warmup, clip = int(trainer.get("warmup_steps", 20)), float(trainer.get("clip_norm", 1.0))
    step, done = 0, 0
    if resume is not None:
        model.load_state_dict(resume["model"])
        if "optimizer" in resume:  # a checkpoint of this trial (weights alone: a stage's fresh start)
            optimizer.load_state_dict(resume["optimizer"])
            generator.set_state(resume["generator"])
            torch.set_rng_state(resume["torch_rng"])
            step, done = int(resume["step"]), len(resume["history"])

    def evaluate() -> tuple[float, float]:
        model.eval()
        with torch.no_grad():
            logits = model(inputs[cut:])
        return float(nn.functional.cross_entropy(logits, labels[cut:])), float((logits.argmax(1) == labels[cut:]).float().mean())

    def checkpoint() -> Checkpoint:
        return {
            "model": {key: value.clone() for key, value in model.state_dict().items()},
            "optimizer": optimizer.state_dict(),
            "generator": generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "step": step,
        }

    if trainer["epochs"] == 0:  # a stage that evaluates its starting weights only
        val_loss, val_acc = evaluate()
        report(EpochReport(0, {"val_loss": val_loss, "val_acc": val_acc}, checkpoint, None))
        return
    batch = int(trainer.get("batch_size") or 32)
    for epoch in range(done + 1, trainer["epochs"] + 1):
        started = time.perf_counter()
        model.train()
        order = torch.randperm(cut, generator=generator)
        total = 0.0
        for first in range(0, cut, batch):
            step += 1
            for group, base in zip(optimizer.param_groups, base_lrs, strict=True):
                group["lr"] = base * min(1.0, step / warmup)  # the warm-up: linear over `warmup` steps
            rows = order[first : first + batch]
            loss = nn.functional.cross_entropy(model(inputs[rows]), labels[rows])
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), clip)
            optimizer.step()
            total += float(loss.detach()) * len(rows)
        val_loss, val_acc = evaluate()
        metrics = {
            "train_loss": total / cut,
            "val_loss": val_loss,
            "val_acc": val_acc,
            "lr": optimizer.param_groups[0]["lr"],
            "epoch_seconds": time.perf_counter() - started,
        }
        report(EpochReport(epoch, metrics, checkpoint, None))
