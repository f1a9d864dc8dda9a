"""One checkpoint folder per trial id, so an interrupted trial resumes in any later invocation.

The storage root (`paths.storage`) is a local path or a URI that pyarrow can open (`s3://bucket/prefix`,
`gs://…`, `file:///…`): on a cluster every node reads and writes the same folders, so a trial can resume
on another node than the one it started on.
"""

from __future__ import annotations

import functools
import io
import os
from typing import Any

import torch
from pyarrow import fs

from sweeps.locations import is_uri

STATE = "state.pt"  # the latest epoch's full state: weights, optimizer, RNGs, metric history


def join(location: str, *parts: str) -> str:
    """`location`/part/…, for a local path or a URI alike."""
    return "/".join([location.rstrip("/"), *parts])


def checkpoint_dir(storage: str, study: str, trial_id: str) -> str:
    return join(storage, study, "checkpoints", trial_id)


def save_state(folder: str, state: dict[str, Any]) -> None:
    """Write-then-move: a kill mid-write leaves the previous epoch's state intact.

    On an object store the move is a server-side copy, so the state is uploaded once.
    """
    filesystem, path = _resolve(folder)
    filesystem.create_dir(path, recursive=True)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    partial = join(path, f"{STATE}.partial")
    with filesystem.open_output_stream(partial) as stream:
        stream.write(buffer.getbuffer())
    filesystem.move(partial, join(path, STATE))


def load_state(folder: str) -> dict[str, Any] | None:
    filesystem, path = _resolve(folder)
    target = join(path, STATE)
    if filesystem.get_file_info(target).type == fs.FileType.NotFound:
        return None
    with filesystem.open_input_stream(target) as stream:
        data = stream.read()
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


def remove_state(folder: str) -> None:
    """Forget the trial's checkpoint (if any): its next start trains from scratch."""
    filesystem, path = _resolve(folder)
    target = join(path, STATE)
    if filesystem.get_file_info(target).type != fs.FileType.NotFound:
        filesystem.delete_file(target)


@functools.lru_cache(maxsize=256)  # a trial saves every epoch: resolve its folder (an S3 region lookup) once
def _resolve(location: str) -> tuple[fs.FileSystem, str]:
    if is_uri(location):
        return fs.FileSystem.from_uri(location)
    return fs.LocalFileSystem(), os.path.abspath(location)
