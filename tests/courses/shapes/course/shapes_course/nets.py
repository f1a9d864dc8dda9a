"""The shapes course's models: a small ResNet (a stem, residual blocks with skip connections, a pooled
classifier), and a dense net written for 32×32 CIFAR images that fails on any other size."""

from __future__ import annotations

import torch
from torch import nn


class ResidualBlock(nn.Module):
    """Two 3×3 convolutions with batch norm, added to the block's input (the skip connection)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.body(x))


class ShapesNet(nn.Module):
    """A ResNet in small: `width` scales its channels (8 at 1.0), `dropout` is before the classifier."""

    def __init__(self, num_classes: int, in_channels: int = 3, width: float = 1.0, dropout: float = 0.0, blocks: int = 1) -> None:
        super().__init__()
        channels = max(1, round(8 * width))
        self.stem = nn.Sequential(nn.Conv2d(in_channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels), nn.ReLU())
        self.blocks = nn.Sequential(*(ResidualBlock(channels) for _ in range(blocks)))
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(channels, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)))  # logits


class CifarDense(nn.Module):
    """A dense net for 32×32 colour images: its first layer's size is fixed, so other images do not fit."""

    def __init__(self, num_classes: int, hidden: int = 16) -> None:
        super().__init__()
        self.layers = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, hidden), nn.ReLU(), nn.Linear(hidden, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)
