"""One checkpoint folder per trial id, so an interrupted trial resumes in any later invocation."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

STATE = "state.pt"  # the latest epoch's full state: weights, optimizer, RNGs, metric history


def checkpoint_dir(storage: str | Path, study: str, trial_id: str) -> Path:
    return Path(storage) / study / "checkpoints" / trial_id


def save_state(folder: Path, state: dict[str, Any]) -> None:
    """Write-then-rename: a kill mid-write leaves the previous epoch's state intact."""
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f"{STATE}.partial"
    torch.save(state, partial)
    os.replace(partial, folder / STATE)


def load_state(folder: Path) -> dict[str, Any] | None:
    path = folder / STATE
    return torch.load(path, map_location="cpu", weights_only=True) if path.exists() else None
