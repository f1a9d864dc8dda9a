"""The first training images of a data set, as its trials see them but un-normalised back to [0, 1], and the
names of its classes where its files give them (an image folder's sub-folders)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from trainables.image.data import load_data
from trainables.image.folder import FOLDER_SOURCE
from trainables.image.folder import class_names as folder_classes

SAMPLE_COUNT = 16  # images per grid (4 × 4)


def class_names(data: Mapping[str, Any], data_root: str | Path) -> list[str] | None:
    """Label i's name: an image folder's i-th class sub-folder. None: the classes go by their numbers (a
    built-in data set, or a folder that is gone)."""
    if data.get("source") != FOLDER_SOURCE:
        return None
    try:
        return list(folder_classes(data, data_root))
    except ValueError:
        return None


def first_images(data: Mapping[str, Any], data_root: str | Path, count: int = SAMPLE_COUNT) -> tuple[np.ndarray, list[int]]:
    """Images as (N, H, W) grey or (N, H, W, 3) colour in [0, 1], and their labels.

    Raises DataUnavailableError when the data set's files are not on disk (a report never downloads).
    """
    split = load_data({**data, "download": False}, data_root).train
    mean, std = (np.asarray(data[key], dtype=np.float32).reshape(1, -1, 1, 1) for key in ("mean", "std"))  # per channel
    images = np.clip(split.x[:count].numpy() * std + mean, 0.0, 1.0).transpose(0, 2, 3, 1)  # → (N, H, W, C)
    return (images[..., 0] if images.shape[-1] == 1 else images), [int(label) for label in split.y[:count]]
