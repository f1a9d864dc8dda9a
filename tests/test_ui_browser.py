"""The HTML report and the running `sweep ui` page, opened in headless Chromium (Debian's `chromium`).

The store is written through the runner's MLflow writer with chosen numbers (tests/report_store.py),
the report by `sweep report`'s own function, and the UI is the real `sweep ui` in its own session, stopped at the
end with everything it started. Screenshots are kept in each test's tmp dir.
"""

from __future__ import annotations

import contextlib
import html
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from report_store import Outcome, write_store

from sweeps.plan import Plan, plan_study
from sweeps.report.write import write_report

CHROMIUM = Path("/usr/bin/chromium")
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="no /usr/bin/chromium: install Debian's chromium package (.ci/run does)"
)
STUDY = "jhu_fashion"
QUESTIONS = ["q01", "q03"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
LOOPBACK_HEX = "0100007F"  # 127.0.0.1 as /proc/net/tcp writes it
LISTEN = "0A"  # TCP state in /proc/net/tcp


@dataclass(frozen=True)
class Store:
    workdir: Path
    uri: str
    plan: Plan
    report: Path  # index.html


def _sweep(workdir: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sweeps", *args], cwd=workdir, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    workdir = tmp_path_factory.mktemp("ui")
    uri = f"sqlite:///{workdir / 'mlflow.db'}"
    overrides = ["offline=true", "trainer.epochs=2", f"tracking.uri={uri}"]
    plan = plan_study(STUDY, overrides, QUESTIONS)
    write_store(uri, plan, lambda trial: Outcome([0.3, 0.4]))
    folder = write_report(plan, workdir / "report").folder  # in-process: test_report runs the CLI's
    return Store(workdir, uri, plan, folder / "index.html")


def _chromium(url: str, folder: Path, name: str) -> str:
    """The page's DOM after its scripts ran (15 s of virtual time); a screenshot saved as folder/name.png."""
    screenshot = folder / f"{name}.png"
    browser = subprocess.Popen(
        [
            str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={folder / f'{name}-profile'}", "--window-size=1400,1600",
            "--virtual-time-budget=15000", f"--screenshot={screenshot}", "--dump-dom", url,
        ],  # fmt: skip
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,  # its helper processes share the group, so all of them can be stopped
    )
    try:
        dom = browser.communicate(timeout=120)[0]
    finally:
        _stop_group(browser)
    assert browser.returncode == 0, f"chromium exited {browser.returncode} on {url}"
    assert screenshot.read_bytes()[:8] == PNG_SIGNATURE
    return dom


def _stop_group(process: subprocess.Popen[str]) -> None:
    """SIGTERM to the process group `process` leads (a session of its own), SIGKILL to what is left after 20 s."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and _group_alive(process):
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def _group_alive(process: subprocess.Popen[str]) -> bool:
    process.poll()  # reaps the leader once it has ended
    try:
        os.killpg(process.pid, 0)
    except ProcessLookupError:
        return False
    return True


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _listening(port: int) -> set[str]:
    """Hex local addresses (/proc/net/tcp, tcp6) on which something listens on `port`."""
    addresses = set()
    for table in (Path("/proc/net/tcp"), Path("/proc/net/tcp6")):
        for line in table.read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == LISTEN and int(hex_port, 16) == port:
                addresses.add(address)
    return addresses


def _wait_until_serving(url: str, process: subprocess.Popen[str], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "sweep ui ended before it served"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError):
            pass
        time.sleep(0.5)
    raise AssertionError(f"{url} did not answer within {timeout} s")


@needs_chromium
def test_html_report_shows_every_question_and_run(store: Store, tmp_path: Path) -> None:
    dom = _chromium(store.report.as_uri(), tmp_path, "report")
    for question in store.plan.questions:
        assert html.escape(f"{question.id}: {question.text}", quote=False) in dom
    for trial in store.plan.trials:
        assert f"<td>{html.escape(trial.name, quote=False)}</td>" in dom
    assert dom.count("<img ") >= 2 * len(QUESTIONS)


@pytest.fixture
def ui(store: Store, tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """`sweep ui` on a free port, in a session of its own; stopped with all it started. Yields (port, log)."""
    port = _free_port()
    log = tmp_path / "sweep-ui.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "sweeps", "ui", f"tracking.uri={store.uri}", "--port", str(port)],
            cwd=store.workdir,
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
    try:
        _wait_until_serving(f"http://127.0.0.1:{port}/health", process)
        yield port, log
    finally:
        _stop_group(process)
        assert not _listening(port), "sweep ui left a server behind"


@needs_chromium
def test_sweep_ui_serves_the_runs_on_loopback_only(store: Store, ui: tuple[int, Path], tmp_path: Path) -> None:
    port, log = ui
    assert _listening(port) == {LOOPBACK_HEX}
    experiment = MlflowClient(store.uri).get_experiment_by_name(STUDY).experiment_id
    runs = f"http://127.0.0.1:{port}/#/experiments/{experiment}/runs"
    printed = log.read_text()
    assert f"sweep ui: MLflow UI for {store.uri} at http://127.0.0.1:{port}" in printed
    assert f"  {STUDY}: {runs}" in printed
    assert "tags.`sweeps.questions` LIKE '%q05%'" in printed
    dom = _chromium(runs, tmp_path, "mlflow-ui")
    for name in [trial.name for trial in store.plan.trials] + [f"{q} summary" for q in QUESTIONS]:
        assert html.escape(name, quote=False) in dom, name


def test_ui_without_a_store_is_one_line_of_bad_input(tmp_path: Path) -> None:
    store = tmp_path / "absent.db"
    result = _sweep(tmp_path, "ui", f"tracking.uri=sqlite:///{store}")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"sweep: error: tracking.uri: no MLflow store at sqlite:///{store}; run `sweep run STUDY` first"
    ]
    assert not store.exists()


def test_ui_on_a_port_in_use_is_one_line_of_bad_input(store: Store) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _sweep(store.workdir, "ui", f"tracking.uri={store.uri}", "--port", str(port))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"sweep: error: --port: {port} is in use on 127.0.0.1; pick another, e.g. --port {port + 1}"
    ]
