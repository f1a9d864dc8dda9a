"""`sweep ui` prints where the UI is and the filter hint, then only errors: no MLflow start-up notices,
no deprecation warnings, no line per HTTP request; Ctrl-C stops it and the server it started."""

from __future__ import annotations

import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from helpers.loopback import free_port, wait_until_up
from helpers.report_store import Outcome, write_store

from sweeps.plan.build import plan_study

STUDY = "jhu_fashion"


def _listening(port: int) -> bool:
    hex_port = f":{port:04X} "
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if hex_port in f"{fields[1]} " and fields[3] == "0A":
                return True
    return False


def test_sweep_ui_prints_its_url_and_hint_and_then_only_errors(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    plan = plan_study(STUDY, ["offline=true", "trainer.epochs=1", f"tracking.uri={uri}"], ["q01"])
    write_store(uri, plan, lambda trial: Outcome([0.5]))
    port = free_port()
    log = tmp_path / "ui.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "sweeps", "ui", f"tracking.uri={uri}", "--port", str(port)],
            cwd=tmp_path, stdout=output, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        )  # fmt: skip
    try:
        wait_until_up(f"http://127.0.0.1:{port}/health", process)
        for path in ("/", "/ajax-api/2.0/mlflow/experiments/search?max_results=5", "/no-such-page"):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30).read()
            except urllib.error.HTTPError:
                pass  # a 404 is an answer, and no error of the server's
        process.send_signal(signal.SIGINT)  # to `sweep ui` alone: it passes Ctrl-C on to the server
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
    lines = log.read_text().splitlines()
    assert lines == [
        f"sweep ui: MLflow UI for {uri} at http://127.0.0.1:{port}",
        f"  {STUDY}: http://127.0.0.1:{port}/#/experiments/1/runs",
        "A question's runs (search box): tags.`sweeps.answers.q05` = 'true'",
    ]
    assert not _listening(port), "sweep ui left its server behind"
