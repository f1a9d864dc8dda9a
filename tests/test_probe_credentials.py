"""The tracking-server probe asks as MLflow's own client does: a server behind basic auth (`sweep server
--auth`) is reached with the user's credentials from ~/.mlflow/credentials alone, no MLFLOW_* variables."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest
from helpers.loopback import free_port, wait_until_up
from helpers.sweep_cli import SweepCli

from sweeps.errors import SweepError
from sweeps.record.reachability import answers, check_server

USER, PASSWORD = "sweeper", "a-long-enough-password"


@pytest.mark.slow
def test_a_server_behind_basic_auth_is_reached_with_mlflows_credentials_file(sweep: SweepCli, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("flask_wtf", reason="MLflow's basic-auth app needs mlflow[auth]")
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    admin = {"MLFLOW_TRACKING_USERNAME": USER, "MLFLOW_TRACKING_PASSWORD": PASSWORD}
    server = sweep.popen(
        "server", "--port", str(port), "--auth", "--backend-store-uri", "sqlite:///store/mlflow.db",
        stdout=subprocess.DEVNULL, env=admin,
    )  # fmt: skip
    for key in [key for key in os.environ if key.startswith("MLFLOW_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("HOME", str(sweep.home))  # MLflow reads ~/.mlflow/credentials from here
    credentials = sweep.home / ".mlflow" / "credentials"
    credentials.parent.mkdir(parents=True, exist_ok=True)
    try:
        wait_until_up(f"{uri}/health", server)
        credentials.write_text(f"[mlflow]\nmlflow_tracking_username = {USER}\nmlflow_tracking_password = {PASSWORD}\n")
        check_server(uri)
        assert answers(uri)

        credentials.write_text(f"[mlflow]\nmlflow_tracking_username = {USER}\nmlflow_tracking_password = wrong-{PASSWORD}\n")
        with pytest.raises(SweepError, match=r"refused our credentials \(HTTP 401\)"):
            check_server(uri)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
