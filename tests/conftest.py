"""Fixtures shared by the test modules.

- `sweep` / `module_sweep`: the real `sweep` command (tests/sweep_cli.py) in an isolated working folder, with
  its own HOME and a private, short RAY_TMPDIR; afterwards every process started with that RAY_TMPDIR is
  killed (only those: never `ray stop`). A test that started Ray through them without the `slow` mark
  fails, so `pytest -m "not slow"` stays the tier that starts no Ray.
- `cluster`: a loopback Ray cluster of one-CPU nodes and a `sweep server` (tests/loopback_cluster.py), not
  started yet, working in the `sweep` fixture's folder.
- `conf_dir`: a writable copy of conf/, for tests that add a study of their own.
- `torch_threads`: torch's thread count put back after a test whose trainable set it.

Without -v, pytest prints a dot when a test ends; a slow test's name is also printed when it starts, so a
run is never silent for minutes without saying what it is doing.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from helpers.loopback_cluster import NODES, LoopbackCluster
from helpers.sweep_cli import SweepCli, isolated

from sweeps.config.sources import CONF_DIR


class _SlowTestNames:
    """Writes each slow test's name on its own line as it starts (pytest -v writes every test's)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.slow: set[str] = set()

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        if self.config.get_verbosity() <= 0:
            self.slow = {item.nodeid for item in items if item.get_closest_marker("slow") is not None}

    @pytest.hookimpl(trylast=True)  # after the reporter has begun the line
    def pytest_runtest_logstart(self, nodeid: str) -> None:
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if nodeid in self.slow and reporter is not None:
            reporter.write(f"\n  {nodeid.partition('::')[2]} ", cyan=True, flush=True)


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(_SlowTestNames(config), "sweeps-slow-test-names")


def _fail_unless_slow(cli: SweepCli, users: list[pytest.Item]) -> None:
    """Fails when `cli` started Ray and a test that used it is not marked slow."""
    unmarked = [item.nodeid for item in users if item.get_closest_marker("slow") is None]
    if cli.started_ray() and unmarked:
        pytest.fail(f"started Ray without the `slow` mark: {', '.join(unmarked)}", pytrace=False)


@pytest.fixture
def sweep(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[SweepCli]:
    """`sweep …` in this test's own working folder and HOME (under tmp_path), with its own RAY_TMPDIR."""
    with isolated(tmp_path) as cli:
        yield cli
        _fail_unless_slow(cli, [request.node])


@pytest.fixture(scope="module")
def module_sweep(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[SweepCli]:
    """The same, shared by a module's tests (one expensive run, many checks)."""
    with isolated(tmp_path_factory.mktemp("sweep")) as cli:
        yield cli
        users = [item for item in request.session.items if item.module is request.module and "module_sweep" in item.fixturenames]
        _fail_unless_slow(cli, users)


@pytest.fixture
def cluster(sweep: SweepCli, request: pytest.FixtureRequest) -> LoopbackCluster:
    """Not started yet; whatever the test leaves running, `sweep` kills. Its nodes: NODES, or the names a
    test gives as this fixture's (indirect) parameter."""
    return LoopbackCluster(sweep, getattr(request, "param", NODES))


@pytest.fixture
def conf_dir(tmp_path: Path) -> Path:
    """A copy of conf/ that a test may add files to (`plan_study(…, conf_dir=conf_dir)`)."""
    copy = tmp_path / "conf"
    shutil.copytree(CONF_DIR, copy)
    return copy


@pytest.fixture
def torch_threads() -> Iterator[None]:
    """Puts back torch's intra-op thread count, which a trainable sets to its placement's."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)
