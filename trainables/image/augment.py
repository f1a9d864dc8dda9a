"""Crops on whole batches of in-memory tensors (ConvNetJS's 24×24 crops of 28×28 digits)."""

from __future__ import annotations

import torch


def crop_offsets(count: int, size: int, height: int, width: int, generator: torch.Generator) -> torch.Tensor:
    """(count, 2) random (top, left) corners of `size`×`size` windows, one per image, drawn from `generator`."""
    top = torch.randint(0, height - size + 1, (count,), generator=generator)
    left = torch.randint(0, width - size + 1, (count,), generator=generator)
    return torch.stack([top, left], dim=1)


def crop_at(images: torch.Tensor, offsets: torch.Tensor, size: int) -> torch.Tensor:
    """The `size`×`size` window of each image of (N, C, H, W) at its (top, left) in `offsets` (N, 2)."""
    count, channels = images.shape[:2]
    steps = torch.arange(size, device=images.device)
    rows = (offsets[:, 0, None] + steps)[:, None, :, None]  # (N, 1, size, 1)
    cols = (offsets[:, 1, None] + steps)[:, None, None, :]  # (N, 1, 1, size)
    batch = torch.arange(count, device=images.device)[:, None, None, None]
    channel = torch.arange(channels, device=images.device)[None, :, None, None]
    return images[batch, channel, rows, cols]


def center_crop(images: torch.Tensor, size: int) -> torch.Tensor:
    """The central `size`×`size` window of every image (evaluation's counterpart of a random crop)."""
    height, width = images.shape[-2:]
    top, left = (height - size) // 2, (width - size) // 2
    return images[..., top : top + size, left : left + size]
