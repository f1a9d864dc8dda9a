"""A trained image trial as a plain network, for a model registry: its model rebuilt from the trial's
config (by the layer registry, or from code), with the trial's final weights.

The network's input is what the training loop feeds the model when it evaluates: a float32 batch of
normalised images, (N, C, H, W) — centre-cropped to `data.crop` when the trial crops — and its output
one score per class (log-probabilities, logits or probabilities, as the model's last layer makes them).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from trainables.image.augment import center_crop
from trainables.image.data import load_data
from trainables.image.model import model_of
from trainables.image.sources import data_shape


def network(config: Mapping[str, Any], weights: Mapping[str, torch.Tensor], data_root: str | Path) -> torch.nn.Module:
    """The trial's model with `weights` (its `checkpoint/model.pt`), on the CPU, in eval mode (an image
    folder's classes are read under `data_root`)."""
    model = model_of(config["model"], *data_shape(config["data"], data_root))
    model.load_state_dict(weights)
    return model.eval()


def labelled_test_set(config: Mapping[str, Any], data_root: str | Path) -> tuple[torch.Tensor, torch.Tensor]:
    """The trial's test set as the network takes it (inputs, labels), on the CPU: what `test_acc` scored."""
    data = load_data(config["data"], data_root, "cpu")
    crop = config["data"].get("crop")
    inputs = center_crop(data.test.x, crop) if crop else data.test.x
    return inputs.contiguous(), data.test.y
