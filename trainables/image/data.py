"""Whole data sets held in memory as one normalised float32 tensor per split.

Trainables slice these tensors per batch: no per-sample PIL transforms and no
DataLoader, so a trial spends its time in the model rather than in Python. The sources' names,
shapes and file checks are sources.py's (torch-free, for planning).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F

from trainables.errors import DataUnavailableError
from trainables.image.folder import image_shape, labelled_files, read_images
from trainables.image.sources import (
    FILE_SETS,
    NUM_CLASSES,
    checked_source,
    data_shape,
    dataset_class,
    ensure_files,
    required,
    svmlight_paths,
)
from trainables.image.standins.digits import mnist_5k
from trainables.image.standins.fashion import garments
from trainables.image.standins.objects import cluttered_objects

IMAGE_SIDE = 28  # pixels: the grey sources are 28×28 (sources.SHAPES)

DIGITS_TRAIN_SIZE = 1437  # of scikit-learn's 1797 images; the other 360 are the test split
DIGITS_SPLIT_SEED = 1797  # fixes which digits images land in train and test

SYNTHETIC_DEFAULT_SIZE = 60_000  # examples, as many as MNIST's train split
SYNTHETIC_DEFAULT_TEST_SIZE = 10_000  # examples, as many as MNIST's test split


@dataclass(frozen=True)
class Split:
    x: torch.Tensor  # float32 (N, C, H, W), normalised, on the requested device
    y: torch.Tensor  # int64 (N,), on the requested device

    def __len__(self) -> int:
        return int(self.y.shape[0])


@dataclass(frozen=True)
class InMemoryData:
    train: Split
    val: Split  # the test set, or the last `data.validation_split` of the training set (as Keras)
    test: Split
    num_classes: int
    input_shape: tuple[int, int, int]  # (C, H, W) of the stored images (before any crop)
    source: str  # which source was loaded


class _RawSplits(NamedTuple):
    """Both splits on the CPU, pixels as float32 in [0, 1], shape (N, C, H, W)."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor


def load_data(cfg: Mapping[str, Any], root: str | Path, device: torch.device | str = "cpu") -> InMemoryData:
    """Load the source named by ``cfg["source"]`` and normalise it with ``cfg["mean"]``/``cfg["std"]``;
    an image folder's `data.path` is under `root` unless absolute."""
    source = checked_source(cfg)
    mean = _per_channel(cfg, "mean")
    std = _per_channel(cfg, "std")
    if (std <= 0).any():
        raise ValueError(f"data.std must be positive; got {cfg['std']}")
    raw = LOADERS[source](cfg, Path(root))
    target = torch.device(device)
    train = _to_split(raw.train_x, raw.train_y, mean, std, target)
    test = _to_split(raw.test_x, raw.test_y, mean, std, target)
    train, val = _validation_split(train, test, float(cfg.get("validation_split") or 0.0))
    channels, height, width = train.x.shape[1:]
    return InMemoryData(
        train=train,
        val=val,
        test=test,
        num_classes=data_shape(cfg, root)[1],
        input_shape=(channels, height, width),
        source=source,
    )


def _per_channel(cfg: Mapping[str, Any], key: str) -> torch.Tensor:
    """data.mean / data.std: one number for every channel, or one per channel; shaped (1, C, 1, 1)."""
    value = required(cfg, key)
    values = [float(v) for v in value] if isinstance(value, (list, tuple)) else [float(value)]
    return torch.tensor(values, dtype=torch.float32).reshape(1, -1, 1, 1)


def _validation_split(train: Split, test: Split, fraction: float) -> tuple[Split, Split]:
    """(train, val): the test set as val when `fraction` is 0, else the train set's last `fraction`."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"data.validation_split must be in [0, 1); got {fraction}")
    if fraction == 0.0:
        return train, test
    cut = len(train) - max(1, round(len(train) * fraction))  # Keras: the last samples, before shuffling
    return Split(train.x[:cut], train.y[:cut]), Split(train.x[cut:], train.y[cut:])


def _to_split(x01: torch.Tensor, y: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, device: torch.device) -> Split:
    # Out-of-place arithmetic and copy=True: cached digits tensors must never be shared with callers.
    x = ((x01 - mean) / std).to(device)
    return Split(x=x, y=y.to(device=device, dtype=torch.int64, copy=True))


# --- files on disk: torchvision's MNIST, Fashion-MNIST, CIFAR-10; MNIST as svmlight text -----


def _load_torchvision(cfg: Mapping[str, Any], root: Path) -> _RawSplits:
    file_set = FILE_SETS[cfg["source"]]
    ensure_files(file_set, root, download=bool(cfg.get("download", False)))
    dataset_cls = dataset_class(file_set)
    try:
        train = dataset_cls(str(root), train=True, download=False)
        test = dataset_cls(str(root), train=False, download=False)
    except RuntimeError as err:  # torchvision's "Dataset not found or corrupted": a file's md5 is not the published one
        raise DataUnavailableError(
            f"{root / file_set.folder}: torchvision finds a file corrupted ({str(err).splitlines()[0]}); "
            "move the folder aside, then copy the files again or set data.download=true to fetch them"
        ) from err
    return _RawSplits(_images_to_unit(train.data), _labels(train.targets), _images_to_unit(test.data), _labels(test.targets))


def _load_svmlight(cfg: Mapping[str, Any], root: Path) -> _RawSplits:
    """MNIST as LIBSVM/svmlight text: `label index:value …`, 784 features, values 0–255."""
    from sklearn.datasets import load_svmlight_files  # imported here: scikit-learn is slow to import

    train_path, test_path = svmlight_paths(cfg, root)
    features = IMAGE_SIDE * IMAGE_SIDE
    train_x, train_y, test_x, test_y = load_svmlight_files(
        [str(train_path), str(test_path)], n_features=features, dtype="float32", zero_based="auto"
    )

    def images(sparse: Any) -> torch.Tensor:
        dense = torch.from_numpy(sparse.toarray())  # one split at a time: 60 000 × 784 float32 = 188 MB
        return dense.reshape(-1, 1, IMAGE_SIDE, IMAGE_SIDE) / 255.0

    return _RawSplits(images(train_x), _labels(train_y), images(test_x), _labels(test_y))


def _labels(values: Any) -> torch.Tensor:
    return torch.as_tensor(values).to(torch.int64)


def _images_to_unit(images: Any) -> torch.Tensor:
    """uint8 (N, H, W) grey (torchvision MNIST) or (N, H, W, 3) colour (CIFAR-10, numpy) → float32 (N, C, H, W) in [0, 1]."""
    tensor = torch.as_tensor(images)
    tensor = tensor.unsqueeze(1) if tensor.dim() == 3 else tensor.permute(0, 3, 1, 2)
    return tensor.to(torch.float32) / 255.0


# --- a folder of the user's own images (folder.py) -----------------------------------


def _load_image_folder(cfg: Mapping[str, Any], root: Path) -> _RawSplits:
    """Both splits decoded and resized, in the folder's round-robin class order (folder.labelled_files)."""
    return _RawSplits(*_folder_split(cfg, root, "train"), *_folder_split(cfg, root, "test"))


def _folder_split(cfg: Mapping[str, Any], root: Path, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    files = labelled_files(cfg, root, split)
    pixels = torch.from_numpy(read_images([path for path, _ in files], image_shape(cfg)))  # (N, H, W, C) uint8
    return pixels.permute(0, 3, 1, 2).to(torch.float32) / 255.0, torch.tensor([label for _, label in files], dtype=torch.int64)


# --- scikit-learn digits: a small, fast data set for tests -----------------


@functools.lru_cache(maxsize=1)  # per process: repeated trials in one worker reuse it
def _digits_splits() -> _RawSplits:
    from sklearn.datasets import load_digits  # imported here: scikit-learn is slow to import and only digits needs it

    bunch = load_digits()
    images = torch.as_tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0  # values 0..16 → [0, 1]
    images = F.interpolate(images, size=(IMAGE_SIDE, IMAGE_SIDE), mode="bilinear", align_corners=False)
    labels = torch.as_tensor(bunch.target, dtype=torch.int64)
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(DIGITS_SPLIT_SEED))
    train, test = order[:DIGITS_TRAIN_SIZE], order[DIGITS_TRAIN_SIZE:]
    return _RawSplits(images[train], labels[train], images[test], labels[test])


# --- synthetic noise for benchmarks -----------------------------------------


def _load_synthetic(cfg: Mapping[str, Any], root: Path) -> _RawSplits:
    size = _positive_int(cfg, "size", SYNTHETIC_DEFAULT_SIZE)
    test_size = _positive_int(cfg, "test_size", SYNTHETIC_DEFAULT_TEST_SIZE)
    generator = torch.Generator().manual_seed(int(cfg.get("seed", 0)))
    # One generator drawn in a fixed order: train images, train labels, test images, test labels.
    train_x, train_y = _noise(size, generator), _random_labels(size, generator)
    test_x, test_y = _noise(test_size, generator), _random_labels(test_size, generator)
    return _RawSplits(train_x, train_y, test_x, test_y)


def _positive_int(cfg: Mapping[str, Any], key: str, default: int) -> int:
    value = int(cfg.get(key, default))
    if value <= 0:
        raise ValueError(f"data.{key} must be positive; got {value}")
    return value


def _noise(count: int, generator: torch.Generator) -> torch.Tensor:
    return torch.rand((count, 1, IMAGE_SIDE, IMAGE_SIDE), generator=generator)


def _random_labels(count: int, generator: torch.Generator) -> torch.Tensor:
    return torch.randint(0, NUM_CLASSES, (count,), generator=generator)


# One loader per name in sources.SOURCES (tested).
LOADERS: dict[str, Callable[[Mapping[str, Any], Path], _RawSplits]] = {
    "mnist": _load_torchvision,
    "fashion_mnist": _load_torchvision,
    "mnist_svmlight": _load_svmlight,
    "cifar10": _load_torchvision,
    "mnist_5k": lambda cfg, root: _RawSplits(*mnist_5k()),
    "garments": lambda cfg, root: _RawSplits(*garments()),
    "cluttered_objects": lambda cfg, root: _RawSplits(*cluttered_objects()),
    "digits": lambda cfg, root: _digits_splits(),
    "synthetic": _load_synthetic,
    "image_folder": _load_image_folder,
}
