"""One checkpoint folder per trial id, so an interrupted trial resumes in any later invocation.

The storage root (`paths.storage`) is a local path or a URI that pyarrow can open (`s3://bucket/prefix`,
`gs://…`, `file:///…`): on a cluster every node reads and writes the same folders, so a trial can resume
on another node than the one it started on.

A folder holds the latest epoch's state (`state.pt`), the one before it (`state.prev.pt`) and, once the
trial has trained its last epoch, its final weights alone (`model.pt`, the run's artifact: the driver logs
that file as it is, so it never imports torch to take the weights out of a state). Each file
records its payload's length and SHA-256, and is written beside its place and then moved there, so a kill
mid-write leaves the previous file whole. A file that fails its check (truncated, overwritten, from a
full disk) is set aside as `*.unreadable` and the previous state is used, or none: the trial starts again.
Once a trial's run is finished in MLflow, `sweep run` keeps only its latest state (`prune_finished`).
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import struct
from dataclasses import dataclass, field
from typing import Any

from pyarrow import fs

from sweeps.config.locations import is_uri

STATE = "state.pt"  # the latest epoch's full state: weights, optimizer, RNGs, metric history
PREVIOUS = "state.prev.pt"  # the epoch before it: what a trial resumes from when STATE is unreadable
WEIGHTS = "model.pt"  # the final weights alone, torch.save of the model's state dict (torch.load(weights_only=True))
FAILURE = "failure.txt"  # one line: why the trial's training function broke its contract (the driver records it)
MAGIC = b"SWEEPS-STATE-1\n"
_HEADER = struct.Struct("<Q32s")  # payload length in bytes, SHA-256 of the payload


def join(location: str, *parts: str) -> str:
    """`location`/part/…, for a local path or a URI alike."""
    return "/".join([location.rstrip("/"), *parts])


def checkpoint_dir(storage: str, study: str, trial_id: str) -> str:
    return join(storage, study, "checkpoints", trial_id)


def save_state(folder: str, state: dict[str, Any]) -> None:
    """Write-then-move: a kill mid-write leaves the previous epoch's state intact, and it is kept as PREVIOUS.

    On an object store each move is a server-side copy, so the state is uploaded once.
    """
    filesystem, path = resolve(folder)
    filesystem.create_dir(path, recursive=True)
    buffer = io.BytesIO()
    import torch  # imported here: planning reads checkpoint folders' names, and torch costs seconds to import

    torch.save(state, buffer)
    payload = buffer.getbuffer()
    partial = join(path, f"{STATE}.partial")
    with filesystem.open_output_stream(partial) as stream:
        stream.write(MAGIC + _HEADER.pack(len(payload), hashlib.sha256(payload).digest()))
        stream.write(payload)
    if filesystem.get_file_info(join(path, STATE)).type != fs.FileType.NotFound:
        filesystem.move(join(path, STATE), join(path, PREVIOUS))
    filesystem.move(partial, join(path, STATE))


def save_weights(folder: str, weights: dict[str, Any]) -> None:
    """The trial's final weights as WEIGHTS, written beside its place and then moved there."""
    filesystem, path = resolve(folder)
    buffer = io.BytesIO()
    import torch  # as in save_state

    torch.save(weights, buffer)
    partial = join(path, f"{WEIGHTS}.partial")
    with filesystem.open_output_stream(partial) as stream:
        stream.write(buffer.getbuffer())
    filesystem.move(partial, join(path, WEIGHTS))


def read_weights(folder: str) -> bytes | None:
    """The bytes of the trial's WEIGHTS file; None when it has none (it has not trained its last epoch)."""
    filesystem, path = resolve(folder)
    try:
        with filesystem.open_input_stream(join(path, WEIGHTS)) as stream:
            return stream.read()
    except FileNotFoundError:
        return None


@dataclass(frozen=True)
class StateRead:
    state: dict[str, Any] | None  # the newest readable state; None: none (a fresh start)
    unreadable: list[str] = field(default_factory=list)  # "…/state.pt (truncated: …)", each set aside


def read_state(folder: str) -> StateRead:
    """The newest readable state in `folder`; each unreadable file is named, with why, and set aside."""
    filesystem, path = resolve(folder)
    unreadable: list[str] = []
    for name in (STATE, PREVIOUS):
        target = join(path, name)
        try:
            with filesystem.open_input_stream(target) as stream:
                data = stream.read()
        except FileNotFoundError:
            continue
        try:
            return StateRead(_decode(data), unreadable)
        except ValueError as error:
            unreadable.append(f"{join(folder, name)} ({error})")
            filesystem.move(target, f"{target}.unreadable")  # kept for a look; the next save writes anew
    return StateRead(None, unreadable)


def load_state(folder: str) -> dict[str, Any] | None:
    return read_state(folder).state


def _decode(data: bytes) -> dict[str, Any]:
    """A state file's contents, checked against its length and checksum; ValueError says what is wrong."""
    if not data:
        raise ValueError("empty")
    if not (data.startswith(MAGIC) or MAGIC.startswith(data)):  # written before checksums: only torch can tell
        try:
            return _torch_load(data)
        except Exception as error:  # torch raises many kinds on a damaged file
            raise ValueError(f"not a checkpoint torch can read: {type(error).__name__}") from None
    start = len(MAGIC) + _HEADER.size
    if len(data) < start:
        raise ValueError(f"truncated: {len(data)} bytes, not even its header")
    length, digest = _HEADER.unpack_from(data, len(MAGIC))
    payload = memoryview(data)[start:]
    if len(payload) != length:
        raise ValueError(f"truncated: {len(payload)} of {length} bytes")
    if hashlib.sha256(payload).digest() != digest:
        raise ValueError("checksum mismatch")
    return _torch_load(payload)


def save_failure(folder: str, message: str) -> None:
    """Why the trial failed, one line, for the driver to record (`take_failure`)."""
    filesystem, path = resolve(folder)
    filesystem.create_dir(path, recursive=True)
    with filesystem.open_output_stream(join(path, FAILURE)) as stream:
        stream.write(message.encode())


def take_failure(folder: str) -> str | None:
    """The failure `save_failure` left in `folder`, removed as it is read; None when there is none."""
    filesystem, path = resolve(folder)
    try:
        with filesystem.open_input_stream(join(path, FAILURE)) as stream:
            message = stream.read().decode()
    except FileNotFoundError:
        return None
    filesystem.delete_file(join(path, FAILURE))
    return message


def remove_state(folder: str) -> None:
    """Forget the trial's checkpoints and final weights (any there are): its next start trains from scratch."""
    _remove(folder, (STATE, PREVIOUS, WEIGHTS, FAILURE))


def prune_finished(folder: str) -> int:
    """Remove what a finished trial, its run closed in MLflow, no longer needs; returns the bytes removed.

    PREVIOUS only stands in for an unreadable STATE while the trial trains, and WEIGHTS is now its run's
    artifact (`checkpoint/model.pt`, which stages and the model registry read). STATE stays: a longer trial
    added later continues it (sweeps.plan.prefixes).
    """
    return _remove(folder, (PREVIOUS, WEIGHTS))


def _remove(folder: str, names: tuple[str, ...]) -> int:
    filesystem, path = resolve(folder)
    removed = 0
    for name in names:
        info = filesystem.get_file_info(join(path, name))
        if info.type != fs.FileType.NotFound:
            filesystem.delete_file(info.path)
            removed += info.size or 0
    return removed


@functools.lru_cache(maxsize=256)  # a trial saves every epoch: resolve its folder (an S3 region lookup) once
def resolve(location: str) -> tuple[fs.FileSystem, str]:
    if is_uri(location):
        return fs.FileSystem.from_uri(location)
    return fs.LocalFileSystem(), os.path.abspath(location)


def _torch_load(data: bytes | memoryview) -> dict[str, Any]:
    """A state saved with torch.save, read back as plain tensors (weights_only: no code runs)."""
    import torch  # imported here, as in save_state

    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
