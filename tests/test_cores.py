"""The idle-core share (sweeps/run/cores.py): how many torch threads each running trial of an experiment
may use as its trials end, the file the driver keeps and the workers read, and where none is kept."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from sweeps.config.schema import ResourcesConfig
from sweeps.run.cores import CoreShare, core_share, raise_threads, read_share, share_of


@pytest.mark.parametrize(
    ("cores", "slots", "left", "base", "share"),
    [
        (2, 2, 12, 1, 1),  # a search's samples still to come: one core each
        (2, 2, 2, 1, 1),  # its last two: still one each
        (2, 2, 1, 1, 2),  # its last one alone: both cores
        (16, 2, 12, 1, 8),  # max_concurrent 2 on 16 cores: eight threads each from the start
        (16, 16, 3, 1, 5),  # a grid's last three: 16 // 3, the 16th core free
        (16, 2, 12, 8, 8),  # never below what the trial asked for
        (2, 2, 0, 1, 2),  # every trial ended: no division by zero
    ],
)
def test_the_share_is_the_cores_over_the_trials_that_can_still_run(cores: int, slots: int, left: int, base: int, share: int) -> None:
    assert share_of(cores, slots, left, base) == share


@pytest.fixture
def threads() -> Iterator[None]:
    """This process's torch threads, as they were after the test."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_the_file_follows_the_trials_that_end_and_goes_with_the_experiment(tmp_path: Path) -> None:
    share = CoreShare(tmp_path / "share.txt", cores=4, slots=4, trials=6, base=1)
    path = str(share.path)
    assert read_share(path) == 1  # six trials for four cores
    ends = []
    complete, error = share.on_trial_complete, share.on_trial_error
    for ending in (complete, error, complete, complete, complete):
        ending(0, [], None)  # type: ignore[arg-type]  # the hooks read no trial
        ends.append(read_share(path))
    assert ends == [1, 1, 1, 2, 4]  # 5 left, 4 (one for each core), 3 (4 // 3), 2 (two threads each), 1
    share.close()
    assert not Path(path).exists() and read_share(path) == 0
    assert read_share(None) == 0


def test_a_worker_raises_its_threads_to_the_share_and_never_lowers_them(tmp_path: Path, threads: None) -> None:
    file = tmp_path / "share.txt"
    torch.set_num_threads(1)
    file.write_text("2")
    raise_threads(str(file))
    assert torch.get_num_threads() == 2
    file.write_text("1")
    raise_threads(str(file))
    assert torch.get_num_threads() == 2  # a lower share never comes from the driver; a stale one changes nothing
    raise_threads(None)
    raise_threads(str(tmp_path / "ended.txt"))
    assert torch.get_num_threads() == 2


@pytest.mark.parametrize(
    "resources",
    [
        ResourcesConfig(address="auto"),  # a cluster: its nodes are not this machine
        ResourcesConfig(num_cpus=2, gpus_per_trial=1),  # a GPU trial's CPUs feed the GPU
        ResourcesConfig(num_cpus=2, share_idle_cores=False),
    ],
)
def test_no_share_on_a_cluster_with_gpus_or_when_turned_off(resources: ResourcesConfig) -> None:
    assert core_share(resources, 1.0, 4, None) is None


def test_a_local_share_counts_the_cpus_a_trial_asks_for_and_the_concurrency() -> None:
    share = core_share(ResourcesConfig(num_cpus=8, cpus_per_trial=2), 2.0, trials=10, concurrent=None)
    assert share is not None and read_share(str(share.path)) == 2  # four at once, two threads each
    share.close()
    limited = core_share(ResourcesConfig(num_cpus=8), 1.0, trials=10, concurrent=2)
    assert limited is not None and read_share(str(limited.path)) == 4  # two at once: four threads each
    limited.close()
