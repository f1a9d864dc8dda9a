"""The HTML report and the running `sweep ui` page, opened in headless Chromium (Debian's `chromium`).

The store is written through the runner's MLflow writer with chosen numbers (tests/report_store.py),
the report by `sweep report`'s own function, and the UI is the real `sweep ui` in its own session, stopped at the
end with everything it started. Screenshots are kept in each test's tmp dir. The two tests in Chromium are
end-to-end checks (a browser, and a server for the UI) and marked slow; the bad-input ones are not.
"""

from __future__ import annotations

import contextlib
import html
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers.loopback import free_port, listening, wait_until_up
from helpers.report_store import Outcome, write_store
from helpers.sweep_cli import SweepCli
from mlflow.tracking import MlflowClient

from sweeps.plan.build import plan_study
from sweeps.report.write import write_report
from sweeps.trials import Plan

CHROMIUM = Path("/usr/bin/chromium")
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="no /usr/bin/chromium: install Debian's chromium package (.ci/run does)"
)
STUDY = "jhu_fashion"
QUESTIONS = ["q01", "q03"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class Store:
    workdir: Path
    uri: str
    plan: Plan


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    workdir = tmp_path_factory.mktemp("ui")
    uri = f"sqlite:///{workdir / 'mlflow.db'}"
    overrides = ["offline=true", "trainer.epochs=2", f"tracking.uri={uri}"]
    plan = plan_study(STUDY, overrides, QUESTIONS)
    write_store(uri, plan, lambda trial: Outcome([0.3, 0.4]))
    return Store(workdir, uri, plan)


@pytest.fixture(scope="module")
def report(store: Store) -> Path:
    """The store's report, index.html; written in-process (test_report runs the CLI's)."""
    return write_report(store.plan, store.workdir / "report").folder / "index.html"


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


@pytest.mark.slow
@needs_chromium
def test_html_report_shows_every_question_and_run(store: Store, report: Path, tmp_path: Path) -> None:
    dom = _chromium(report.as_uri(), tmp_path, "report")
    for question in store.plan.questions:
        assert html.escape(f"{question.id}: {question.text}", quote=False) in dom
    for trial in store.plan.trials:
        assert f"<td>{html.escape(trial.name, quote=False)}</td>" in dom
    assert dom.count("<img ") >= 2 * len(QUESTIONS)


def _listening_on(port: int) -> set[str]:
    """The addresses on which something listens on `port`."""
    return {address for address, listened in listening() if listened == port}


@pytest.fixture
def ui(store: Store, sweep: SweepCli) -> Iterator[tuple[int, Path]]:
    """`sweep ui` on a free port, in a session of its own; stopped with all it started. Yields (port, log)."""
    port = free_port()
    log = sweep.workdir / "sweep-ui.log"
    with log.open("w") as output:
        process = sweep.popen("ui", f"tracking.uri={store.uri}", "--port", str(port), stdout=output)
    try:
        wait_until_up(f"http://127.0.0.1:{port}/health", process, timeout=120)
        yield port, log
    finally:
        _stop_group(process)
        assert not _listening_on(port), "sweep ui left a server behind"


@pytest.mark.slow
@needs_chromium
@pytest.mark.usefixtures("report")  # the report logs the summary runs the UI must list too
def test_sweep_ui_serves_the_runs_on_loopback_only(store: Store, ui: tuple[int, Path], tmp_path: Path) -> None:
    port, log = ui
    assert _listening_on(port) == {"127.0.0.1"}
    experiment = MlflowClient(store.uri).get_experiment_by_name(STUDY).experiment_id
    runs = f"http://127.0.0.1:{port}/#/experiments/{experiment}/runs"
    printed = log.read_text()
    assert f"sweep ui: MLflow UI for {store.uri} at http://127.0.0.1:{port}" in printed
    assert f"  {STUDY}: {runs}" in printed
    assert "tags.`sweeps.answers.q05` = 'true'" in printed
    dom = _chromium(runs, tmp_path, "mlflow-ui")
    for name in [trial.name for trial in store.plan.trials] + [f"{q} summary" for q in QUESTIONS]:
        assert html.escape(name, quote=False) in dom, name


def test_ui_without_a_store_is_one_line_of_bad_input(sweep: SweepCli) -> None:
    store = sweep.workdir / "absent.db"
    result = sweep("ui", f"tracking.uri=sqlite:///{store}")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"sweep: error: tracking.uri: no MLflow store at sqlite:///{store}; run `sweep run STUDY` first"
    ]
    assert not store.exists()


def test_ui_on_a_port_in_use_is_one_line_of_bad_input(store: Store, sweep: SweepCli) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = sweep("ui", f"tracking.uri={store.uri}", "--port", str(port))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"sweep: error: --port: {port} is in use on 127.0.0.1; pick another, e.g. --port {port + 1}"
    ]
