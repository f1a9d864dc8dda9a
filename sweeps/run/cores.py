"""Idle cores go to the trials still training: a Ray Tune experiment's tail never trains on one core of many.

On this machine's own Ray without GPUs each Ray trial asks Ray for `cpus_per_trial` CPUs and trains with
that many torch threads. Once an experiment has fewer trials left to train than it can run at once (a
grid's last trials, a search's last samples, a search whose `max_concurrent` is below the cores), cores
would idle until it ends. The driver's `CoreShare` callback writes the threads each of its running trials
may use to a small file; each worker reads it after every epoch (`raise_threads`) and raises its torch
threads to it. The share only grows while an experiment runs (its trials left only fall), so a trial that
starts later never finds the cores taken by threads it was not counted in. Threads change the result only
beyond floating-point order (`trainables.placement.Placement`); `resources.share_idle_cores=false` keeps
every trial at its start's threads.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ray import tune

from sweeps.config.schema import ResourcesConfig

if TYPE_CHECKING:
    from ray.tune.experiment import Trial


def share_of(cores: int, slots: int, left: int, base: int) -> int:
    """Torch threads per running trial: the cores over the trials that can still train at once (at most
    `slots`, the experiment's concurrency; at most `left`, its trials not yet ended), never below `base`."""
    return max(base, cores // max(1, min(slots, left)))


class CoreShare(tune.Callback):
    """Driver side: keeps the share file of one experiment current as its Ray trials end."""

    def __init__(self, path: Path, cores: int, slots: int, trials: int, base: int) -> None:
        self.path = path
        self._cores, self._slots, self._left, self._base = cores, slots, trials, base
        self._write()

    def _write(self) -> None:
        share = share_of(self._cores, self._slots, self._left, self._base)
        partial = self.path.with_suffix(".partial")
        partial.write_text(str(share))
        os.replace(partial, self.path)  # a worker reads the old share or the new one, never half of one

    def _ended(self) -> None:
        self._left -= 1
        self._write()

    def on_trial_complete(self, iteration: int, trials: list[Trial], trial: Trial, **info: Any) -> None:
        self._ended()

    def on_trial_error(self, iteration: int, trials: list[Trial], trial: Trial, **info: Any) -> None:
        self._ended()  # after its last retry (a retried trial is `on_trial_recover`, still left)

    def close(self) -> None:
        self.path.unlink(missing_ok=True)


def core_share(resources: ResourcesConfig, cpus_per_trial: float, trials: int, concurrent: int | None) -> CoreShare | None:
    """The share of one experiment of `trials` Ray trials, each asking for `cpus_per_trial` CPUs, at most
    `concurrent` at once; None on a cluster, with GPUs or with `share_idle_cores` off (threads stay as started).
    The file is in this machine's temporary folder: only this machine's own Ray's workers read it."""
    if not (resources.share_idle_cores and resources.local_cpu_only):
        return None
    cores = resources.local_cpus
    base = max(1, int(cpus_per_trial))
    slots = max(1, int(cores // cpus_per_trial))
    if concurrent:
        slots = min(slots, concurrent)
    handle, name = tempfile.mkstemp(prefix="sweeps-cores-", suffix=".txt")
    os.close(handle)
    return CoreShare(Path(name), cores, slots, trials, base)


def read_share(path: str | None) -> int:
    """Worker side: the threads the share file at `path` allows (0: no share, or its experiment has ended)."""
    if path is None:
        return 0
    try:
        return int(Path(path).read_text())
    except FileNotFoundError:  # the experiment ended (and removed it) while this trial was saying its last epoch
        return 0


def raise_threads(path: str | None) -> None:
    """Worker side, after each epoch: this process's torch threads raised to the share (never lowered)."""
    import torch

    share = read_share(path)
    if share > torch.get_num_threads():
        torch.set_num_threads(share)
