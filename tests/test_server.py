"""`sweep server`: the `mlflow server` process it becomes, its bad input, and a real start with --auth."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from helpers.loopback import free_port, wait_until_up
from helpers.sweep_cli import SweepCli
from mlflow.tracking import MlflowClient

from sweeps.config.locations import without_password
from sweeps.errors import SweepError
from sweeps.serve.server import ServerOptions, server_process

CREDENTIALS = {"MLFLOW_TRACKING_USERNAME": "sweeper", "MLFLOW_TRACKING_PASSWORD": "a-long-enough-password"}


def _option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def test_runs_mlflow_on_loopback_with_paths_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    process = server_process(ServerOptions(backend_store_uri="sqlite:///db/mlflow.db", artifacts_destination="art"), {})
    assert process.argv[:4] == [sys.executable, "-m", "mlflow", "server"]
    assert _option(process.argv, "--host") == "127.0.0.1"
    assert _option(process.argv, "--port") == "5000"
    assert _option(process.argv, "--backend-store-uri") == f"sqlite:///{tmp_path}/db/mlflow.db"
    assert _option(process.argv, "--artifacts-destination") == str(tmp_path / "art")
    assert "--serve-artifacts" in process.argv and "--app-name" not in process.argv
    assert process.cwd == tmp_path / "db"  # where --auth keeps basic_auth.db: beside the store


def test_an_artifact_uri_is_kept_and_the_user_may_ask_for_another_interface() -> None:
    options = ServerOptions(host="0.0.0.0", port=5917, artifacts_destination="s3://bucket/prefix")
    process = server_process(options, {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "true"})
    assert _option(process.argv, "--host") == "0.0.0.0"
    assert _option(process.argv, "--port") == "5917"
    assert _option(process.argv, "--artifacts-destination") == "s3://bucket/prefix"
    assert process.env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "true"  # the user's setting wins


def test_a_database_store_reaches_mlflow_through_its_environment_never_the_command_line() -> None:
    uri = "postgresql://sweeps:a-secret@db.example:5432/runs"
    process = server_process(ServerOptions(backend_store_uri=uri, quiet=True), {})
    assert "a-secret" not in " ".join(process.argv)  # `ps` shows a command line to every user of the machine
    assert "--backend-store-uri" not in process.argv and "--registry-store-uri" not in process.argv
    assert process.env["MLFLOW_BACKEND_STORE_URI"] == process.env["MLFLOW_REGISTRY_STORE_URI"] == uri
    assert process.backend == uri


def test_a_database_uri_is_printed_without_its_password() -> None:
    assert without_password("postgresql://sweeps:a-secret@db:5432/runs") == "postgresql://sweeps:***@db:5432/runs"
    assert without_password("postgresql+psycopg://sweeps@db/runs") == "postgresql+psycopg://sweeps@db/runs"
    assert without_password("sqlite:////tmp/mlflow.db") == "sqlite:////tmp/mlflow.db"


def test_an_unreachable_database_is_one_line_with_the_remedy_and_no_password(sweep: SweepCli) -> None:
    pytest.importorskip("psycopg", reason="PostgreSQL's driver: pip install 'sweeps[postgres]'")
    uri = f"postgresql://sweeps:a-secret@127.0.0.1:{free_port()}/sweeps"  # nothing listens there
    result = sweep("server", "--port", str(free_port()), "--backend-store-uri", uri, timeout=60)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("sweep: error: --backend-store-uri: cannot log in to postgresql://sweeps:***@127.0.0.1:")
    assert "Connection refused" in result.stderr and "start the database server" in result.stderr
    assert "a-secret" not in result.stderr + result.stdout


def test_a_database_without_its_driver_is_one_line_naming_what_to_install(sweep: SweepCli) -> None:
    if importlib.util.find_spec("MySQLdb") is not None:
        pytest.skip("MySQL's driver is installed here")
    result = sweep("server", "--backend-store-uri", "mysql://sweeps:a-secret@127.0.0.1:3306/runs", timeout=60)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "needs the database driver 'MySQLdb', which is not installed; install SQLAlchemy's driver for mysql" in result.stderr
    assert "a-secret" not in result.stderr


def test_auth_takes_the_admin_from_the_clients_variables_or_mlflows_own() -> None:
    process = server_process(ServerOptions(auth=True), CREDENTIALS)
    assert _option(process.argv, "--app-name") == "basic-auth"
    assert process.env["MLFLOW_AUTH_ADMIN_USERNAME"] == "sweeper"
    assert process.env["MLFLOW_AUTH_ADMIN_PASSWORD"] == "a-long-enough-password"
    assert len(process.env["MLFLOW_FLASK_SERVER_SECRET_KEY"]) == 64  # made up for this start
    own = {**CREDENTIALS, "MLFLOW_AUTH_ADMIN_USERNAME": "admin", "MLFLOW_FLASK_SERVER_SECRET_KEY": "kept"}
    process = server_process(ServerOptions(auth=True), own)
    assert process.env["MLFLOW_AUTH_ADMIN_USERNAME"] == "admin"
    assert process.env["MLFLOW_FLASK_SERVER_SECRET_KEY"] == "kept"


@pytest.mark.parametrize(
    ("environ", "options", "message"),
    [
        ({}, ServerOptions(auth=True), "set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD"),
        ({**CREDENTIALS, "MLFLOW_TRACKING_PASSWORD": "short"}, ServerOptions(auth=True), "at least 12 characters"),
        ({}, ServerOptions(port=70000), "--port: must be 1–65535"),
    ],
)
def test_bad_input_is_a_sweep_error(environ: dict[str, str], options: ServerOptions, message: str) -> None:
    with pytest.raises(SweepError, match=message):
        server_process(options, environ)


def test_the_command_reports_bad_input_in_one_line(sweep: SweepCli) -> None:
    result = sweep("server", "--auth", timeout=60)  # sweep's environment has no MLFLOW_* variables
    assert result.returncode == 2
    assert result.stderr.startswith("sweep: error: --auth: set MLFLOW_TRACKING_USERNAME") and result.stderr.count("\n") == 1
    assert list(sweep.workdir.iterdir()) == []  # nothing started, nothing written


@pytest.mark.slow
def test_a_real_server_with_auth_refuses_strangers_and_serves_artifacts(sweep: SweepCli, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("flask_wtf", reason="MLflow's basic-auth app needs mlflow[auth]")
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    server = sweep.popen(
        "server", "--port", str(port), "--auth", "--backend-store-uri", "sqlite:///store/mlflow.db",
        "--artifacts-destination", "artifacts", stdout=subprocess.DEVNULL, env=CREDENTIALS,
    )  # fmt: skip
    workdir = sweep.workdir
    try:
        wait_until_up(f"{uri}/health", server)
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{uri}/api/2.0/mlflow/experiments/search?max_results=1", timeout=10)
        assert refused.value.code == 401

        for key, value in CREDENTIALS.items():  # what `sweep run` has in its environment
            monkeypatch.setenv(key, value)
        client = MlflowClient(uri)
        run = client.create_run(client.create_experiment("served"))
        (workdir / "note.txt").write_text("through the server")
        client.log_artifact(run.info.run_id, str(workdir / "note.txt"))
        assert [artifact.path for artifact in client.list_artifacts(run.info.run_id)] == ["note.txt"]
        assert list((workdir / "artifacts").rglob("note.txt"))
        assert (workdir / "store" / "basic_auth.db").is_file()  # the users, beside the runs
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)

