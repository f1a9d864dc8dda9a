"""Tests for trainables.image.data and .sources: every source, loaded into memory and normalised."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision

from trainables.errors import DataUnavailableError
from trainables.image.data import InMemoryData, Split, load_data
from trainables.image.sources import SOURCES

IDX_IMAGES_MAGIC = 0x00000803  # uint8 payload, 3 dimensions
IDX_LABELS_MAGIC = 0x00000801  # uint8 payload, 1 dimension
RAW_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
NORMALISATION = {"mean": 0.5, "std": 0.25}


def write_idx_dataset(
    folder: Path,
    train_images: np.ndarray,
    train_labels: np.ndarray,
    test_images: np.ndarray,
    test_labels: np.ndarray,
) -> None:
    """Write the four MNIST-format IDX files torchvision reads into ``folder`` (created if needed)."""
    folder.mkdir(parents=True, exist_ok=True)
    _write_idx(folder / "train-images-idx3-ubyte", IDX_IMAGES_MAGIC, train_images)
    _write_idx(folder / "train-labels-idx1-ubyte", IDX_LABELS_MAGIC, train_labels)
    _write_idx(folder / "t10k-images-idx3-ubyte", IDX_IMAGES_MAGIC, test_images)
    _write_idx(folder / "t10k-labels-idx1-ubyte", IDX_LABELS_MAGIC, test_labels)


def _write_idx(path: Path, magic: int, array: np.ndarray) -> None:
    payload = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(f">{1 + payload.ndim}i", magic, *payload.shape)  # big-endian int32s
    path.write_bytes(header + payload.tobytes())


def _known_images(count: int, offset: int) -> np.ndarray:
    """Images whose pixels are distinct-ish known values in 0..255."""
    values = (np.arange(count * 28 * 28) + offset) % 256
    return values.reshape(count, 28, 28).astype(np.uint8)


def _expected(images: np.ndarray, mean: float, std: float) -> torch.Tensor:
    x01 = torch.from_numpy(images).to(torch.float32).unsqueeze(1) / 255.0
    return (x01 - mean) / std


@pytest.fixture
def idx_root(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    arrays = {
        "train_images": _known_images(12, offset=0),
        "train_labels": np.arange(12, dtype=np.uint8) % 10,
        "test_images": _known_images(5, offset=7),
        "test_labels": np.array([9, 8, 7, 6, 5], dtype=np.uint8),
    }
    for name in ("FashionMNIST", "MNIST"):
        write_idx_dataset(tmp_path / name / "raw", **arrays)
    return tmp_path, arrays


def _assert_layout(data: InMemoryData, train_size: int, test_size: int) -> None:
    assert isinstance(data.train, Split)
    assert (len(data.train), len(data.test)) == (train_size, test_size)
    assert data.train.x.shape == (train_size, 1, 28, 28)
    assert data.test.x.shape == (test_size, 1, 28, 28)
    assert data.train.x.dtype == data.test.x.dtype == torch.float32
    assert data.train.y.dtype == data.test.y.dtype == torch.int64
    assert data.input_shape == (1, 28, 28)
    assert data.num_classes == 10


@pytest.mark.parametrize("source", ["fashion_mnist", "mnist"])
def test_torchvision_source_reads_real_idx_files(
    source: str, idx_root: tuple[Path, dict[str, np.ndarray]]
) -> None:
    root, arrays = idx_root
    data = load_data({"source": source, **NORMALISATION, "download": False, "unrelated": 1}, root)

    _assert_layout(data, train_size=12, test_size=5)
    assert data.source == source
    assert data.train.y.tolist() == arrays["train_labels"].tolist()
    assert data.test.y.tolist() == arrays["test_labels"].tolist()
    assert torch.equal(data.train.x, _expected(arrays["train_images"], **NORMALISATION))
    assert torch.equal(data.test.x, _expected(arrays["test_images"], **NORMALISATION))
    assert data.train.x[0, 0, 0, 0].item() == -2.0  # pixel 0 → (0 - 0.5) / 0.25
    assert data.train.x[0, 0, 9, 3].item() == pytest.approx((255 / 255 - 0.5) / 0.25)  # pixel 255


def test_missing_files_name_folder_and_files(tmp_path: Path) -> None:
    folder = tmp_path / "FashionMNIST" / "raw"
    folder.mkdir(parents=True)
    (folder / "train-images-idx3-ubyte").write_bytes(b"")  # present: must not be reported

    with pytest.raises(DataUnavailableError) as caught:
        load_data({"source": "fashion_mnist", **NORMALISATION, "download": False}, tmp_path)

    message = str(caught.value)
    assert "\n" not in message
    assert str(folder) in message
    assert "offline=true" in message
    for name in RAW_FILES[1:]:
        assert name in message
    assert "train-images-idx3-ubyte" not in message


def test_failed_download_becomes_data_unavailable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(self: torchvision.datasets.MNIST) -> None:
        raise OSError("network is unreachable")

    monkeypatch.setattr(torchvision.datasets.MNIST, "download", no_network)  # FashionMNIST inherits it

    with pytest.raises(DataUnavailableError) as caught:
        load_data({"source": "fashion_mnist", **NORMALISATION, "download": True}, tmp_path)

    assert str(tmp_path / "FashionMNIST" / "raw") in str(caught.value)
    assert isinstance(caught.value.__cause__, OSError)


def test_download_that_leaves_files_missing_is_data_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(torchvision.datasets.MNIST, "download", lambda self: None)

    with pytest.raises(DataUnavailableError, match="t10k-labels-idx1-ubyte"):
        load_data({"source": "mnist", **NORMALISATION, "download": True}, tmp_path)


def _unit_pixels(split: Split, mean: float, std: float) -> torch.Tensor:
    """Undo the normalisation: back to pixels in [0, 1]."""
    return split.x * std + mean


def test_digits_layout_determinism_and_normalisation(tmp_path: Path) -> None:
    cfg = {"source": "digits", "mean": 0.2, "std": 0.3}
    first = load_data(cfg, tmp_path)
    second = load_data(cfg, tmp_path)

    _assert_layout(first, train_size=1437, test_size=360)
    assert first.source == "digits"
    assert torch.equal(first.train.x, second.train.x)
    assert torch.equal(first.test.y, second.test.y)
    assert set(first.train.y.tolist()) == set(range(10))

    unit = torch.cat([_unit_pixels(first.train, 0.2, 0.3), _unit_pixels(first.test, 0.2, 0.3)])
    assert unit.min().item() >= -1e-6
    assert unit.max().item() <= 1 + 1e-6
    assert 0.1 < unit.mean().item() < 0.5  # digits are mostly dark background with bright strokes
    assert first.train.x.mean().item() == pytest.approx((unit[:1437].mean().item() - 0.2) / 0.3, abs=1e-4)


def test_digits_results_are_not_shared_between_calls(tmp_path: Path) -> None:
    cfg = {"source": "digits", "mean": 0.0, "std": 1.0}
    first = load_data(cfg, tmp_path)
    first.train.x.zero_()
    first.train.y.zero_()

    second = load_data(cfg, tmp_path)
    assert second.train.x.abs().sum().item() > 0
    assert set(second.train.y.tolist()) == set(range(10))


def test_synthetic_sizes_and_seed(tmp_path: Path) -> None:
    cfg = {"source": "synthetic", **NORMALISATION, "size": 40, "test_size": 9, "seed": 3}
    first = load_data(cfg, tmp_path)
    same = load_data(cfg, tmp_path)
    other = load_data({**cfg, "seed": 4}, tmp_path)

    _assert_layout(first, train_size=40, test_size=9)
    assert first.source == "synthetic"
    assert torch.equal(first.train.x, same.train.x)
    assert torch.equal(first.test.y, same.test.y)
    assert not torch.equal(first.train.x, other.train.x)
    assert not torch.equal(first.test.x, other.test.x)
    assert int(first.train.y.min()) >= 0 and int(first.train.y.max()) <= 9
    unit = _unit_pixels(first.train, **NORMALISATION)
    assert unit.min().item() >= -1e-6 and unit.max().item() < 1 + 1e-6


def test_synthetic_defaults(tmp_path: Path) -> None:
    data = load_data({"source": "synthetic", "mean": 0.0, "std": 1.0}, tmp_path)
    assert (len(data.train), len(data.test)) == (60_000, 10_000)


def test_data_lands_on_requested_device(tmp_path: Path) -> None:
    data = load_data({"source": "synthetic", **NORMALISATION, "size": 4, "test_size": 2}, tmp_path, device="meta")
    assert data.train.x.device.type == data.test.y.device.type == "meta"


def test_unknown_source_names_key_and_allowed_values(tmp_path: Path) -> None:
    with pytest.raises(ValueError) as caught:
        load_data({"source": "imagenet", **NORMALISATION}, tmp_path)

    message = str(caught.value)
    assert "data.source" in message
    for source in SOURCES:
        assert source in message


@pytest.mark.parametrize(
    ("cfg", "key"),
    [
        ({"source": "digits", "mean": 0.5}, "data.std"),
        ({"source": "digits", "mean": 0.5, "std": 0.0}, "data.std"),
        ({"source": "synthetic", **NORMALISATION, "size": 0}, "data.size"),
    ],
)
def test_invalid_settings_name_the_key(cfg: dict[str, object], key: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=key):
        load_data(cfg, tmp_path)


# --- CIFAR-10 python batches, svmlight text, the colour stand-in, validation split -------------


def write_cifar10_batches(root: Path, train: list[tuple[np.ndarray, list[int]]], test: tuple[np.ndarray, list[int]]) -> None:
    """CIFAR-10's python format: pickled dicts with "data" (N × 3072 uint8, channel-major) and "labels"."""
    import pickle

    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for name, (images, labels) in [*((f"data_batch_{i + 1}", batch) for i, batch in enumerate(train)), ("test_batch", test)]:
        rows = images.transpose(0, 3, 1, 2).reshape(len(images), -1)  # NHWC → N × (3·32·32), channel-major
        with open(folder / name, "wb") as handle:
            pickle.dump({"data": rows, "labels": labels}, handle)
    with open(folder / "batches.meta", "wb") as handle:
        pickle.dump({"label_names": [f"class{i}" for i in range(10)]}, handle)


def published_as_written(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """torchvision's table of CIFAR-10's published md5s, set to those of the small batches written here, so
    its reader checks these files as it checks the real ones."""
    from torchvision.datasets import CIFAR10
    from torchvision.datasets.utils import calculate_md5

    def md5(name: str) -> str:
        return calculate_md5(str(root / "cifar-10-batches-py" / name))

    monkeypatch.setattr(CIFAR10, "train_list", [[name, md5(name)] for name, _ in CIFAR10.train_list])
    monkeypatch.setattr(CIFAR10, "test_list", [[name, md5(name)] for name, _ in CIFAR10.test_list])
    monkeypatch.setattr(CIFAR10, "meta", {**CIFAR10.meta, "md5": md5(CIFAR10.meta["filename"])})


def small_cifar10(root: Path) -> tuple[list[tuple[np.ndarray, list[int]]], tuple[np.ndarray, list[int]]]:
    rng = np.random.default_rng(0)
    train = [(rng.integers(0, 256, (2, 32, 32, 3), dtype=np.uint8), [i, (i + 1) % 10]) for i in range(5)]
    test = (rng.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8), [7, 8, 9])
    write_cifar10_batches(root, train, test)
    return train, test


def test_cifar10_is_read_by_torchvisions_reader_from_python_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    train, test = small_cifar10(tmp_path)
    published_as_written(tmp_path, monkeypatch)

    data = load_data({"source": "cifar10", "mean": [0.5, 0.4, 0.3], "std": [0.2, 0.25, 0.5], "download": False}, tmp_path)

    assert data.input_shape == (3, 32, 32) and len(data.train) == 10 and len(data.test) == 3
    assert data.train.y.tolist() == [label for _, labels in train for label in labels]
    first = torch.from_numpy(train[0][0][0]).permute(2, 0, 1).float() / 255.0  # HWC → CHW
    expected = (first - torch.tensor([0.5, 0.4, 0.3]).view(3, 1, 1)) / torch.tensor([0.2, 0.25, 0.5]).view(3, 1, 1)
    torch.testing.assert_close(data.train.x[0], expected)


def test_a_cifar10_batch_that_is_not_the_published_one_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    small_cifar10(tmp_path)
    published_as_written(tmp_path, monkeypatch)
    with (tmp_path / "cifar-10-batches-py" / "data_batch_3").open("r+b") as batch:  # one byte flipped, size kept
        batch.seek(100)
        flipped = bytes([batch.read(1)[0] ^ 0xFF])
        batch.seek(100)
        batch.write(flipped)

    with pytest.raises(DataUnavailableError) as caught:
        load_data({"source": "cifar10", "mean": 0.5, "std": 0.25, "download": False}, tmp_path)
    message = str(caught.value)
    assert str(tmp_path / "cifar-10-batches-py") in message and "corrupted" in message and "\n" not in message


def test_missing_cifar10_names_files_and_folder(tmp_path: Path) -> None:
    with pytest.raises(DataUnavailableError) as caught:
        load_data({"source": "cifar10", "mean": 0.5, "std": 0.25, "download": False}, tmp_path)
    message = str(caught.value)
    assert str(tmp_path / "cifar-10-batches-py") in message
    assert "data_batch_5" in message and "test_batch" in message and "\n" not in message


def test_svmlight_text_files_load_as_28x28_images(tmp_path: Path) -> None:
    def line(label: int, pixels: dict[int, int]) -> str:  # one-based feature indices, as LIBSVM writes them
        return " ".join([str(label)] + [f"{index}:{value}" for index, value in sorted(pixels.items())])

    (tmp_path / "train.txt").write_text("\n".join([line(3, {1: 255, 784: 51}), line(7, {29: 102})]) + "\n")
    (tmp_path / "test.txt").write_text(line(1, {400: 255}) + "\n")
    cfg = {"source": "mnist_svmlight", "train_file": "train.txt", "test_file": "test.txt", "mean": 0.0, "std": 1.0}

    data = load_data(cfg, tmp_path)

    assert data.train.x.shape == (2, 1, 28, 28) and data.train.y.tolist() == [3, 7] and data.test.y.tolist() == [1]
    assert data.train.x[0, 0, 0, 0] == 1.0 and data.train.x[0, 0, 27, 27] == pytest.approx(0.2)
    assert data.train.x[1, 0, 1, 0] == pytest.approx(0.4)  # feature 29 → pixel 28 → row 1, column 0
    assert data.train.x.sum() == pytest.approx(1.0 + 0.2 + 0.4)


def test_missing_svmlight_file_is_named(tmp_path: Path) -> None:
    cfg = {"source": "mnist_svmlight", "train_file": "train.txt", "test_file": "test.txt", "mean": 0.0, "std": 1.0}
    with pytest.raises(DataUnavailableError, match="train.txt, test.txt"):
        load_data(cfg, tmp_path)


def test_validation_split_takes_the_last_fraction_of_the_training_set(tmp_path: Path) -> None:
    whole = load_data({"source": "digits", "mean": 0.0, "std": 1.0}, tmp_path)
    split = load_data({"source": "digits", "mean": 0.0, "std": 1.0, "validation_split": 0.1}, tmp_path)
    assert len(split.val) == 144 and len(split.train) == 1437 - 144  # round(1437 × 0.1) = 144
    assert torch.equal(split.val.x, whole.train.x[-144:]) and torch.equal(split.train.y, whole.train.y[:-144])
    assert torch.equal(split.test.x, whole.test.x)
    assert whole.val is whole.test  # no split: validation is the test set, as the course material does


def test_data_shape_accounts_for_crop() -> None:
    from trainables.image.sources import data_shape

    assert data_shape({"source": "mnist"}) == ((1, 28, 28), 10)
    assert data_shape({"source": "cifar10"}) == ((3, 32, 32), 10)
    assert data_shape({"source": "digits", "crop": 24}) == ((1, 24, 24), 10)


@pytest.mark.parametrize("source", ["mnist_5k", "garments", "cluttered_objects", "digits"])
def test_the_planners_training_sizes_are_what_loads(source: str) -> None:
    """`sources.TRAIN_SIZES` (what packs need at plan time, without loading) against the loaded data set."""
    from trainables.image.sources import TRAIN_SIZES, train_examples

    loaded = load_data({"source": source, "mean": 0.5, "std": 0.25}, "data")
    assert len(loaded.train) == TRAIN_SIZES[source] == train_examples({"source": source})
    held_out = load_data({"source": source, "mean": 0.5, "std": 0.25, "validation_split": 0.1}, "data")
    assert len(held_out.train) == train_examples({"source": source, "validation_split": 0.1})
