"""The first training images of a data set, as its trials see them but un-normalised back to [0, 1]."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from trainables.image.data import load_data

SAMPLE_COUNT = 16  # images per grid (4 × 4)


def first_images(data: Mapping[str, Any], data_root: str | Path, count: int = SAMPLE_COUNT) -> tuple[np.ndarray, list[int]]:
    """Images as (N, H, W) grey or (N, H, W, 3) colour in [0, 1], and their labels.

    Raises DataUnavailableError when the data set's files are not on disk (a report never downloads).
    """
    split = load_data({**data, "download": False}, data_root).train
    mean, std = (np.asarray(data[key], dtype=np.float32).reshape(1, -1, 1, 1) for key in ("mean", "std"))  # per channel
    images = np.clip(split.x[:count].numpy() * std + mean, 0.0, 1.0).transpose(0, 2, 3, 1)  # → (N, H, W, C)
    return (images[..., 0] if images.shape[-1] == 1 else images), [int(label) for label in split.y[:count]]
