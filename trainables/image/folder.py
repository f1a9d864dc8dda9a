"""A data set of the user's own: a folder of images in torchvision's ImageFolder layout (`data.source: image_folder`).

`data.path` holds `train/` and `test/`, each with one sub-folder per class (the same classes in both) and
that class's images inside it, at any depth. Classes are the sub-folders' names, sorted (label 0 is the
first, as ImageFolder numbers them). Every image is read as grey (`data.channels: 1`) or RGB (3, the
default) and resized to `data.size` × `data.size` pixels.

The layout is checked without reading an image (plain Python, no torch), so a plan can say what is wrong
with a folder before anything starts; `read_images` decodes them (Pillow) when a trial loads its data.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

FOLDER_SOURCE = "image_folder"
SPLITS = ("train", "test")
DEFAULT_CHANNELS = 3
# The files that count as images: torchvision.datasets.folder.IMG_EXTENSIONS (lower case; matched case-blind).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
LAYOUT = "an image folder holds train/ and test/, each with one sub-folder of images per class"


class FolderError(ValueError):
    """An image folder's settings or layout that cannot be read; the one-line message names data.path or the key."""


def folder_path(cfg: Mapping[str, Any], root: str | Path | None) -> Path:
    """`data.path`: absolute, or under the data root (paths.data_root)."""
    path = cfg.get("path")
    if not isinstance(path, str) or not path:
        raise FolderError(f"data.path is required for {FOLDER_SOURCE}: the folder that holds train/ and test/")
    folder = Path(path).expanduser()
    if folder.is_absolute():
        return folder
    if root is None:
        raise FolderError(f"data.path: {path!r} is relative, and no data root was given to resolve it")
    return Path(root) / folder


def image_shape(cfg: Mapping[str, Any]) -> tuple[int, int, int]:
    """(C, H, W) of every image once read: `data.channels` × `data.size` × `data.size`."""
    side = cfg.get("size")
    if isinstance(side, bool) or not isinstance(side, int) or side < 1:
        raise FolderError(f"data.size is required for {FOLDER_SOURCE}: the side in pixels images are resized to (got {side!r})")
    channels = cfg.get("channels") or DEFAULT_CHANNELS
    if channels not in (1, 3):
        raise FolderError(f"data.channels: 1 (grey) or 3 (RGB), got {channels!r}")
    return int(channels), side, side


def class_names(cfg: Mapping[str, Any], root: str | Path | None) -> tuple[str, ...]:
    """The folder's classes in label order, the layout checked: FolderError names what is missing."""
    folder = folder_path(cfg, root)
    if not folder.is_dir():
        raise FolderError(f"data.path: {folder} is not a folder; {LAYOUT}")
    train, test = (_classes(folder, split) for split in SPLITS)
    if train != test:
        only_train, only_test = sorted(set(train) - set(test)), sorted(set(test) - set(train))
        raise FolderError(
            f"data.path: train/ and test/ of {folder} must have the same class sub-folders; "
            f"only in train/: {', '.join(only_train) or '—'}; only in test/: {', '.join(only_test) or '—'}"
        )
    return train


def _classes(folder: Path, split: str) -> tuple[str, ...]:
    """The class sub-folders of `folder/split`, each checked to hold an image."""
    place = folder / split
    if not place.is_dir():
        raise FolderError(f"data.path: {folder} has no {split}/ folder; {LAYOUT}")
    classes = sorted(entry.name for entry in os.scandir(place) if entry.is_dir() and not entry.name.startswith("."))
    if not classes:
        raise FolderError(f"data.path: {place} has no class sub-folders; {LAYOUT}")
    for name in classes:
        if next(_images(place / name), None) is None:
            raise FolderError(f"data.path: {place / name} has no images ({', '.join(IMAGE_EXTENSIONS)})")
    return tuple(classes)


def _images(folder: Path) -> Iterator[Path]:
    """The images under `folder` at any depth, in sorted order (a generator: the check stops at the first)."""
    for parent, folders, files in os.walk(folder, followlinks=True):
        folders.sort()
        for name in sorted(files):
            if name.lower().endswith(IMAGE_EXTENSIONS) and not name.startswith("."):
                yield Path(parent) / name


def labelled_files(cfg: Mapping[str, Any], root: str | Path | None, split: str) -> list[tuple[Path, int]]:
    """Every image of `split` with its label, taken from the classes in turn (the first image of each class,
    then the second, …), so the last examples (a validation split) and the first (the report's sample images)
    span every class."""
    classes = class_names(cfg, root)
    folder = folder_path(cfg, root) / split
    per_class = [[(path, label) for path in _images(folder / name)] for label, name in enumerate(classes)]
    longest = max(len(files) for files in per_class)
    return [files[index] for index in range(longest) for files in per_class if index < len(files)]


def read_images(files: Sequence[Path], shape: tuple[int, int, int]) -> Any:
    """The images as one uint8 array (N, H, W, C), each converted to grey or RGB and resized to `shape` (C, H, W)."""
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    channels, height, width = shape
    mode = "L" if channels == 1 else "RGB"
    pixels = np.empty((len(files), height, width, channels), dtype=np.uint8)
    for index, path in enumerate(files):
        try:
            with Image.open(path) as image:
                resized = image.convert(mode).resize((width, height), Image.Resampling.BILINEAR)
        except (OSError, UnidentifiedImageError) as error:
            raise FolderError(f"data.path: {path} cannot be read as an image ({error})") from None
        pixels[index] = np.asarray(resized, dtype=np.uint8).reshape(height, width, channels)
    return pixels
