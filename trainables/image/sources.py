"""The image data sources by name: their shapes, and their files on disk checked (or fetched) before trials.

Torch-free, so planning a study imports no torch: names, shapes and file checks are plain Python;
torchvision is imported only to download a missing data set or to read one (data.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainables.errors import DataUnavailableError
from trainables.image.folder import FOLDER_SOURCE, class_names, image_shape

# Image shape (C, H, W) of every built-in source; all have ten classes. data.py has a loader for each (tested).
SHAPES: dict[str, tuple[int, int, int]] = {
    "mnist": (1, 28, 28),
    "fashion_mnist": (1, 28, 28),
    "mnist_svmlight": (1, 28, 28),  # MNIST as LIBSVM text files (data.train_file, data.test_file)
    "cifar10": (3, 32, 32),
    "mnist_5k": (1, 28, 28),  # the offline stand-in for MNIST (trainables/image/standins/digits.py)
    "garments": (1, 28, 28),  # the offline stand-in for Fashion-MNIST (trainables/image/standins/fashion.py)
    "cluttered_objects": (3, 32, 32),  # the offline stand-in for CIFAR-10 (trainables/image/standins/objects.py)
    "digits": (1, 28, 28),  # scikit-learn's small digits: a fast data set for tests
    "synthetic": (1, 28, 28),
}
# The built-in sources and a folder of the user's own, whose shape and classes its config and files give (folder.py).
SOURCES: tuple[str, ...] = (*SHAPES, FOLDER_SOURCE)

# Training examples of each source before any validation split, where the name alone fixes it (data.py
# loads exactly these; tested). A pack's members step through equal epochs, so packing needs the count.
TRAIN_SIZES: dict[str, int] = {
    "mnist": 60_000,
    "fashion_mnist": 60_000,
    "cifar10": 50_000,
    "mnist_5k": 16_000,
    "garments": 10_000,
    "cluttered_objects": 10_000,
    "digits": 1437,
}

NUM_CLASSES = 10  # every built-in source has ten classes

# Files torchvision's MNIST and FashionMNIST read from <root>/<ClassName>/raw/.
RAW_FILES: tuple[str, ...] = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)

# torchvision's CIFAR-10 python batches, in <root>/cifar-10-batches-py/.
CIFAR10_FILES: tuple[str, ...] = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch", "batches.meta")


@dataclass(frozen=True)
class FileSet:
    folder: str  # under data.root, where torchvision's class reads (and downloads) them
    files: tuple[str, ...]
    dataset: str  # torchvision.datasets class that downloads and reads them


FILE_SETS: dict[str, FileSet] = {
    "mnist": FileSet("MNIST/raw", RAW_FILES, "MNIST"),
    "fashion_mnist": FileSet("FashionMNIST/raw", RAW_FILES, "FashionMNIST"),
    "cifar10": FileSet("cifar-10-batches-py", CIFAR10_FILES, "CIFAR10"),
}


def data_shape(cfg: Mapping[str, Any], root: str | Path | None = None) -> tuple[tuple[int, int, int], int]:
    """The model's input shape (C, H, W) — after `data.crop` — and the class count, without loading.

    An image folder's classes are its sub-folders (its layout checked; FolderError): its `data.path` is
    under `root` (paths.data_root) unless absolute.
    """
    source = checked_source(cfg)
    if source == FOLDER_SOURCE:
        (channels, height, width), classes = image_shape(cfg), len(class_names(cfg, root))
    else:
        (channels, height, width), classes = SHAPES[source], NUM_CLASSES
    crop = cfg.get("crop")
    return ((channels, crop, crop) if crop else (channels, height, width)), classes


def train_examples(cfg: Mapping[str, Any]) -> int | None:
    """Examples the training split holds (after `data.validation_split`), without loading; None when
    only the files can tell (svmlight, an image folder)."""
    source = checked_source(cfg)
    total = int(cfg.get("size") or 60_000) if source == "synthetic" else TRAIN_SIZES.get(source)
    fraction = float(cfg.get("validation_split") or 0.0)
    if total is None or fraction == 0.0:
        return total
    return total - max(1, round(total * fraction))  # as data.py cuts it (Keras: the last examples)


def checked_source(cfg: Mapping[str, Any]) -> str:
    """`cfg["source"]`, or ValueError naming the key and the allowed sources."""
    source = cfg.get("source")
    if source not in SOURCES:
        raise ValueError(f"data.source must be one of {', '.join(SOURCES)}; got {source!r}")
    return str(source)


def required(cfg: Mapping[str, Any], key: str) -> Any:
    """`cfg[key]`, or ValueError naming data.<key>."""
    if key not in cfg:
        raise ValueError(f"data.{key} is required")
    return cfg[key]


def ensure_available(cfg: Mapping[str, Any], root: str | Path) -> None:
    """Download (if allowed) or check the files of `cfg`'s source once, before trials start.

    Raises DataUnavailableError naming the missing files and folder (FolderError for an image folder's
    layout); bundled sources need nothing.
    """
    source = cfg.get("source")
    if source == FOLDER_SOURCE:
        class_names(cfg, root)
    elif source in FILE_SETS:
        ensure_files(FILE_SETS[source], Path(root), download=bool(cfg.get("download", False)))
    elif source == "mnist_svmlight":
        svmlight_paths(cfg, Path(root))


def ensure_files(file_set: FileSet, root: Path, download: bool) -> None:
    """Every file of `file_set` under `root`, downloaded by torchvision first when missing and allowed."""
    folder = root / file_set.folder
    missing = _missing_files(folder, file_set.files)
    if missing and download:
        try:
            dataset_class(file_set)(str(root), train=True, download=True)
        except (RuntimeError, OSError) as err:  # torchvision wraps failed mirrors in RuntimeError
            raise DataUnavailableError(_unavailable_message(missing, folder, "download failed")) from err
        missing = _missing_files(folder, file_set.files)
    if missing:
        raise DataUnavailableError(_unavailable_message(missing, folder, "download is off"))


def dataset_class(file_set: FileSet) -> type[Any]:
    """The torchvision class that downloads and reads `file_set` (CIFAR-10's checks each file's md5 as it reads)."""
    import torchvision  # imported here: it costs ~2 s, imports torch, and only on-disk sources need it

    return getattr(torchvision.datasets, file_set.dataset)


def _missing_files(folder: Path, files: tuple[str, ...]) -> list[str]:
    return [name for name in files if not (folder / name).is_file()]


def _unavailable_message(missing: list[str], folder: Path, reason: str) -> str:
    return (
        f"missing {', '.join(missing)} in {folder} ({reason}); "
        "copy the files there, or set offline=true to use the bundled stand-ins"
    )


def svmlight_paths(cfg: Mapping[str, Any], root: Path) -> tuple[Path, Path]:
    """data.train_file / data.test_file, relative to data.root unless absolute; both must exist."""
    paths = {key: root / str(required(cfg, key)) for key in ("train_file", "test_file")}
    missing = [path for path in paths.values() if not path.is_file()]
    if missing:
        folder = missing[0].parent
        raise DataUnavailableError(_unavailable_message([p.name for p in missing], folder, "svmlight files"))
    return paths["train_file"], paths["test_file"]
