"""Whole data sets held in memory as one normalised float32 tensor per split.

Trainables slice these tensors per batch: no per-sample PIL transforms and no
DataLoader, so a trial spends its time in the model rather than in Python.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
SOURCES: tuple[str, ...] = ("mnist", "fashion_mnist", "digits", "digits_permuted", "synthetic")

NUM_CLASSES = 10  # every source has ten classes
IMAGE_SIDE = 28  # pixels; every source is served as 1×28×28

# Files torchvision's MNIST and FashionMNIST read from <root>/<ClassName>/raw/.
RAW_FILES: tuple[str, ...] = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)

DIGITS_TRAIN_SIZE = 1437  # of scikit-learn's 1797 images; the other 360 are the test split
DIGITS_SPLIT_SEED = 1797  # fixes which digits images land in train and test
DIGITS_PIXEL_PERMUTATION_SEED = 784  # fixes the pixel shuffle of digits_permuted

SYNTHETIC_DEFAULT_SIZE = 60_000  # examples, as many as MNIST's train split
SYNTHETIC_DEFAULT_TEST_SIZE = 10_000  # examples, as many as MNIST's test split

# torchvision classes by source; looked up when used (importing torchvision costs ~2 s).
_TORCHVISION_CLASSES: dict[str, str] = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST"}


def data_shape(source: str) -> tuple[tuple[int, int, int], int]:
    """Input shape (C, H, W) and class count of `source`, without loading it (for planning)."""
    if source not in SOURCES:
        raise ValueError(f"data.source must be one of {', '.join(SOURCES)}; got {source!r}")
    return (1, IMAGE_SIDE, IMAGE_SIDE), NUM_CLASSES


class DataUnavailableError(FileNotFoundError):
    """The raw files of a torchvision data set are not on disk and could not be fetched."""


@dataclass(frozen=True)
class Split:
    x: torch.Tensor  # float32 (N, C, H, W), normalised, on the requested device
    y: torch.Tensor  # int64 (N,), on the requested device

    def __len__(self) -> int:
        return int(self.y.shape[0])


@dataclass(frozen=True)
class InMemoryData:
    train: Split
    test: Split
    num_classes: int
    input_shape: tuple[int, int, int]  # (C, H, W)
    source: str  # which source was loaded


class _RawSplits(NamedTuple):
    """Both splits on the CPU, pixels as float32 in [0, 1], shape (N, 1, 28, 28)."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor


def load_data(cfg: Mapping[str, Any], root: str | Path, device: torch.device | str = "cpu") -> InMemoryData:
    """Load the source named by ``cfg["source"]`` and normalise it with ``cfg["mean"]``/``cfg["std"]``."""
    source = cfg.get("source")
    if source not in SOURCES:
        raise ValueError(f"data.source must be one of {', '.join(SOURCES)}; got {source!r}")
    mean = float(_required(cfg, "mean"))
    std = float(_required(cfg, "std"))
    if std <= 0:
        raise ValueError(f"data.std must be positive; got {std}")
    raw = _LOADERS[source](cfg, Path(root))
    target = torch.device(device)
    train = _to_split(raw.train_x, raw.train_y, mean, std, target)
    test = _to_split(raw.test_x, raw.test_y, mean, std, target)
    channels, height, width = train.x.shape[1:]
    return InMemoryData(
        train=train,
        test=test,
        num_classes=NUM_CLASSES,
        input_shape=(channels, height, width),
        source=source,
    )


def _required(cfg: Mapping[str, Any], key: str) -> Any:
    if key not in cfg:
        raise ValueError(f"data.{key} is required")
    return cfg[key]


def _to_split(x01: torch.Tensor, y: torch.Tensor, mean: float, std: float, device: torch.device) -> Split:
    # Out-of-place arithmetic and copy=True: cached digits tensors must never be shared with callers.
    x = ((x01 - mean) / std).to(device)
    return Split(x=x, y=y.to(device=device, dtype=torch.int64, copy=True))


# --- torchvision: MNIST and Fashion-MNIST -----------------------------------


def ensure_available(cfg: Mapping[str, Any], root: str | Path) -> None:
    """Download (if allowed) or check the files of `cfg`'s source once, before trials start.

    Raises DataUnavailableError naming the missing files and folder; bundled sources need nothing.
    """
    if cfg.get("source") in _TORCHVISION_CLASSES:
        _ensure_raw_files(_torchvision_class(cfg["source"]), Path(root), download=bool(cfg.get("download", False)))


def _torchvision_class(source: str) -> type[Any]:
    import torchvision

    return getattr(torchvision.datasets, _TORCHVISION_CLASSES[source])


def _load_torchvision(cfg: Mapping[str, Any], root: Path) -> _RawSplits:
    dataset_cls = _torchvision_class(cfg["source"])
    _ensure_raw_files(dataset_cls, root, download=bool(cfg.get("download", False)))
    train = dataset_cls(root, train=True, download=False)
    test = dataset_cls(root, train=False, download=False)
    return _RawSplits(_uint8_to_unit(train.data), train.targets, _uint8_to_unit(test.data), test.targets)


def _ensure_raw_files(dataset_cls: type[Any], root: Path, download: bool) -> None:
    folder = root / dataset_cls.__name__ / "raw"  # torchvision's raw_folder
    missing = _missing_files(folder)
    if missing and download:
        try:
            dataset_cls(root, train=True, download=True)
        except (RuntimeError, OSError) as err:  # torchvision wraps failed mirrors in RuntimeError
            raise DataUnavailableError(_unavailable_message(missing, folder, "download failed")) from err
        missing = _missing_files(folder)
    if missing:
        raise DataUnavailableError(_unavailable_message(missing, folder, "download is off"))


def _missing_files(folder: Path) -> list[str]:
    return [name for name in RAW_FILES if not (folder / name).is_file()]


def _unavailable_message(missing: list[str], folder: Path, reason: str) -> str:
    return (
        f"missing {', '.join(missing)} in {folder} ({reason}); "
        "copy the files there, or set offline=true to use the bundled stand-ins (digits, digits_permuted)"
    )


def _uint8_to_unit(images: torch.Tensor) -> torch.Tensor:
    """(N, H, W) uint8 → (N, 1, H, W) float32 in [0, 1]."""
    return images.unsqueeze(1).to(torch.float32) / 255.0


# --- scikit-learn digits and the permuted variant ---------------------------


def _load_digits(cfg: Mapping[str, Any], root: Path) -> _RawSplits:
    return _digits_splits()


def _load_digits_permuted(cfg: Mapping[str, Any], root: Path) -> _RawSplits:
    return _digits_permuted_splits()


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


@functools.lru_cache(maxsize=1)  # per process, like _digits_splits
def _digits_permuted_splits() -> _RawSplits:
    digits = _digits_splits()
    pixels = IMAGE_SIDE * IMAGE_SIDE
    permutation = torch.randperm(pixels, generator=torch.Generator().manual_seed(DIGITS_PIXEL_PERMUTATION_SEED))
    return _RawSplits(
        _permute_pixels(digits.train_x, permutation),
        digits.train_y,
        _permute_pixels(digits.test_x, permutation),
        digits.test_y,
    )


def _permute_pixels(images: torch.Tensor, permutation: torch.Tensor) -> torch.Tensor:
    """Move pixel ``permutation[i]`` to position ``i`` in every image."""
    flat = images.reshape(images.shape[0], -1)
    return flat[:, permutation].reshape(images.shape)


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


_LOADERS: dict[str, Callable[[Mapping[str, Any], Path], _RawSplits]] = {
    "mnist": _load_torchvision,
    "fashion_mnist": _load_torchvision,
    "digits": _load_digits,
    "digits_permuted": _load_digits_permuted,
    "synthetic": _load_synthetic,
}
