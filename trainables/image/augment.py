"""Crops on whole batches of in-memory tensors (ConvNetJS's 24×24 crops of 28×28 digits)."""

from __future__ import annotations

import torch


def random_crop(images: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
    """A `size`×`size` window at an independent random position in each image of (N, C, H, W)."""
    count, channels, height, width = images.shape
    top = torch.randint(0, height - size + 1, (count,), generator=generator).to(images.device)
    left = torch.randint(0, width - size + 1, (count,), generator=generator).to(images.device)
    offsets = torch.arange(size, device=images.device)
    rows = (top[:, None] + offsets)[:, None, :, None]  # (N, 1, size, 1)
    cols = (left[:, None] + offsets)[:, None, None, :]  # (N, 1, 1, size)
    batch = torch.arange(count, device=images.device)[:, None, None, None]
    channel = torch.arange(channels, device=images.device)[None, :, None, None]
    return images[batch, channel, rows, cols]


def center_crop(images: torch.Tensor, size: int) -> torch.Tensor:
    """The central `size`×`size` window of every image (evaluation's counterpart of random_crop)."""
    height, width = images.shape[-2:]
    top, left = (height - size) // 2, (width - size) // 2
    return images[..., top : top + size, left : left + size]
