"""Checkpoint integrity (sweeps.record.checkpoints): each state file checked by length and checksum, the previous
epoch's kept, an unreadable one named and set aside, on a local folder and through pyarrow's `file://`."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import torch

from sweeps.record.checkpoints import (
    PREVIOUS,
    STATE,
    WEIGHTS,
    load_state,
    prune_finished,
    read_state,
    read_weights,
    remove_state,
    save_state,
    save_weights,
)


@pytest.fixture(params=["folder", "uri"])
def folder(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return str(tmp_path / "trial") if request.param == "folder" else f"file://{tmp_path}/trial"


def _path(folder: str) -> Path:
    return Path(folder.removeprefix("file://"))


def _state(epochs: int) -> dict:
    return {"model": {"w": torch.full((64,), float(epochs))}, "history": [{"epoch": float(e)} for e in range(1, epochs + 1)]}


def _epochs(state: dict | None) -> int | None:
    return None if state is None else len(state["history"])


def test_the_latest_state_and_the_one_before_it_are_kept(folder: str) -> None:
    assert read_state(folder).state is None  # nothing yet: a fresh start, nothing to report
    for epochs in (1, 2, 3):
        save_state(folder, _state(epochs))
    read = read_state(folder)
    assert _epochs(read.state) == 3 and read.unreadable == []
    assert sorted(path.name for path in _path(folder).iterdir()) == [PREVIOUS, STATE]
    assert torch.equal(read.state["model"]["w"], torch.full((64,), 3.0))


def test_a_finished_trial_keeps_only_its_latest_state(folder: str) -> None:
    for epochs in (1, 2):
        save_state(folder, _state(epochs))
    save_weights(folder, _state(2)["model"])
    sizes = {path.name: path.stat().st_size for path in _path(folder).iterdir()}
    assert prune_finished(folder) == sizes[PREVIOUS] + sizes[WEIGHTS]
    assert [path.name for path in _path(folder).iterdir()] == [STATE]
    assert _epochs(load_state(folder)) == 2  # what a longer trial continues from
    assert prune_finished(folder) == 0


@pytest.mark.parametrize(
    "damage, reason",
    [
        (lambda data: data[: len(data) // 2], "truncated"),
        (lambda data: data[:10], "not even its header"),
        (lambda data: data[:-1] + bytes([data[-1] ^ 1]), "checksum mismatch"),
        (lambda data: b"", "empty"),
    ],
    ids=["truncated", "cut-in-its-header", "bit-flip", "empty"],
)
def test_an_unreadable_state_falls_back_to_the_previous_one(folder: str, damage, reason: str) -> None:
    save_state(folder, _state(1))
    save_state(folder, _state(2))
    target = _path(folder) / STATE
    target.write_bytes(damage(target.read_bytes()))
    read = read_state(folder)
    assert _epochs(read.state) == 1
    (unreadable,) = read.unreadable
    assert unreadable.startswith(f"{folder}/{STATE} (") and reason in unreadable
    assert (_path(folder) / f"{STATE}.unreadable").exists() and not target.exists()  # set aside
    save_state(folder, _state(2))  # the trial goes on: its next epoch is saved as usual
    assert _epochs(load_state(folder)) == 2


def test_with_both_unreadable_the_trial_starts_again(folder: str) -> None:
    save_state(folder, _state(1))
    save_state(folder, _state(2))
    for name in (STATE, PREVIOUS):
        path = _path(folder) / name
        path.write_bytes(path.read_bytes()[:100])
    read = read_state(folder)
    assert read.state is None and len(read.unreadable) == 2
    assert "truncated: " in read.unreadable[0] and " bytes" in read.unreadable[0]


def test_a_state_written_before_checksums_still_loads(folder: str) -> None:
    _path(folder).mkdir(parents=True)
    legacy = io.BytesIO()
    torch.save(_state(4), legacy)
    (_path(folder) / STATE).write_bytes(legacy.getvalue())
    assert _epochs(load_state(folder)) == 4


def test_a_kill_between_the_two_moves_leaves_the_previous_state(folder: str) -> None:
    save_state(folder, _state(1))
    save_state(folder, _state(2))
    (_path(folder) / STATE).replace(_path(folder) / PREVIOUS)  # the latest moved aside, the new one not yet in place
    read = read_state(folder)
    assert _epochs(read.state) == 2 and read.unreadable == []


def test_removing_a_state_removes_the_one_before_it_and_the_final_weights_too(folder: str) -> None:
    save_state(folder, _state(1))
    save_state(folder, _state(2))
    save_weights(folder, _state(2)["model"])
    remove_state(folder)
    assert read_state(folder).state is None  # a retired trial starts from scratch, not from its previous epoch
    assert read_weights(folder) is None and list(_path(folder).iterdir()) == []


def test_the_final_weights_are_a_file_torch_loads_without_running_code(folder: str) -> None:
    assert read_weights(folder) is None  # not trained to its end yet
    save_state(folder, _state(3))
    save_weights(folder, _state(3)["model"])
    data = read_weights(folder)
    assert data == (_path(folder) / WEIGHTS).read_bytes()
    weights = torch.load(io.BytesIO(data), weights_only=True)
    assert list(weights) == ["w"] and torch.equal(weights["w"], torch.full((64,), 3.0))
