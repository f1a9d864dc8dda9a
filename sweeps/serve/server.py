"""`sweep server`: the MLflow tracking server a cluster's runs log to, started the way the head starts it.

The `sweep run` driver is MLflow's only writer (trials report to it through Ray), so the server needs to be
reachable from the driver (on the head: http://127.0.0.1:5000) and, through an SSH tunnel, from a browser.
It therefore listens on loopback unless told otherwise. Artifacts travel through the server
(`--artifacts-destination`), so no client needs the artifact store's credentials.

The runs are kept in a SQLite file, or, for many `sweep run`s writing at once (a class sharing a cluster),
in a database server (`postgresql://…`, docs/shared-server.md). A database URI reaches `mlflow server`
through its environment, never its command line, which every user of the machine can read.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from sweeps.config.locations import DATABASE_SCHEMES, SQLITE, absolute_location, database_kind, sqlite_path, without_password
from sweeps.errors import SweepError
from sweeps.run.preflight import check_folder, check_port_free, check_store

LOOPBACK = ("127.0.0.1", "localhost", "::1")
BACKEND_SCHEMES = (SQLITE, *DATABASE_SCHEMES)  # stores `mlflow server` can keep runs in
# `mlflow server`'s own variables for its stores (read where the options are not given)
BACKEND_VARIABLE, REGISTRY_VARIABLE = "MLFLOW_BACKEND_STORE_URI", "MLFLOW_REGISTRY_STORE_URI"
# What `sweep run` sends; the server's first start creates this user as its admin.
USERNAME, PASSWORD = "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"
# MLflow's own names for the admin it creates; they win over the two above when set.
ADMIN_USERNAME, ADMIN_PASSWORD = "MLFLOW_AUTH_ADMIN_USERNAME", "MLFLOW_AUTH_ADMIN_PASSWORD"
SECRET_KEY = "MLFLOW_FLASK_SERVER_SECRET_KEY"  # signs the UI's CSRF tokens


@dataclass(frozen=True)
class ServerOptions:
    host: str = "127.0.0.1"
    port: int = 5000
    backend_store_uri: str = "sqlite:///mlflow.db"
    artifacts_destination: str = "mlartifacts"  # a local folder, or s3://bucket/prefix
    auth: bool = False
    quiet: bool = False  # errors only: no start-up notices, warnings or a log line per request (`sweep ui`)


@dataclass(frozen=True)
class ServerProcess:
    backend: str  # the store, a relative SQLite path made absolute; a database URI with its password
    artifacts: str  # likewise
    argv: list[str]
    env: dict[str, str]
    cwd: Path  # with --auth MLflow keeps its users in basic_auth.db here: beside a SQLite store


def server_process(options: ServerOptions, environ: Mapping[str, str]) -> ServerProcess:
    """The `mlflow server` process for `options`, relative paths resolved against the current directory."""
    if not 0 < options.port < 65536:
        raise SweepError(f"--port: must be 1–65535 (got {options.port})")
    if not options.backend_store_uri.startswith(BACKEND_SCHEMES):
        raise SweepError(
            f"--backend-store-uri: {without_password(options.backend_store_uri)!r} must start with one of "
            f"{', '.join(BACKEND_SCHEMES)} (e.g. sqlite:///mlflow.db or postgresql://USER@HOST:5432/DATABASE)"
        )
    store = sqlite_path(options.backend_store_uri)
    backend = f"sqlite:///{store}" if store is not None else options.backend_store_uri
    artifacts = absolute_location(options.artifacts_destination)
    argv = [
        sys.executable, "-m", "mlflow", "server",
        "--host", options.host,
        "--port", str(options.port),
        "--serve-artifacts",
        "--artifacts-destination", artifacts,
        "--workers", "1",  # one process: a SQLite store serialises writes anyway (docs/shared-server.md measures it)
    ]  # fmt: skip
    env = dict(environ)
    # Quiet: the registry named too, else MLflow says it uses the backend store's. A database URI (it may hold a
    # password) goes in MLflow's own variables, a SQLite file on the command line.
    stores = {BACKEND_VARIABLE: backend, **({REGISTRY_VARIABLE: backend} if options.quiet else {})}
    if database_kind(backend) is not None:
        env.update(stores)
    else:
        argv += [argument for variable, uri in stores.items() for argument in (_OPTION[variable], uri)]
    if options.quiet:
        argv += ["--uvicorn-opts", "--log-level warning --no-access-log"]  # uvicorn: no start-up lines, no access log
        env["PYTHONWARNINGS"] = "ignore"  # the libraries' deprecation warnings are not the user's to act on
        env["MLFLOW_LOGGING_LEVEL"] = "WARNING"
    # MLflow's job runner (eight more processes) serves GenAI features a sweep never calls.
    env.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
    if options.auth:
        argv += ["--app-name", "basic-auth"]
        env.update(_auth_env(environ))
    return ServerProcess(backend, artifacts, argv, env, store.parent if store is not None else Path.cwd())


def serve(options: ServerOptions) -> NoReturn:
    """Become the MLflow server (exec): signals and the exit code are MLflow's own."""
    process = server_process(options, os.environ)
    check_port_free(options.host, options.port)
    check_store(process.backend, write=True, key="--backend-store-uri")
    check_folder(process.artifacts, "--artifacts-destination")
    process.cwd.mkdir(parents=True, exist_ok=True)
    where = f"http://{options.host}:{options.port}"
    print(f"sweep server: MLflow at {where} · store {without_password(process.backend)} · artifacts {process.artifacts}", flush=True)
    if options.host not in LOOPBACK and not options.auth:
        print(f"sweep server: warning: {where} is open to every host that reaches it; add --auth", file=sys.stderr)
    os.chdir(process.cwd)
    os.execve(sys.executable, process.argv, process.env)


_OPTION = {BACKEND_VARIABLE: "--backend-store-uri", REGISTRY_VARIABLE: "--registry-store-uri"}


def _auth_env(environ: Mapping[str, str]) -> dict[str, str]:
    """MLflow's basic-auth settings, from the environment only (never from a file in the repository)."""
    username = environ.get(ADMIN_USERNAME) or environ.get(USERNAME)
    password = environ.get(ADMIN_PASSWORD) or environ.get(PASSWORD)
    if not username or not password:
        raise SweepError(
            f"--auth: set {USERNAME} and {PASSWORD} in the environment "
            "(the admin user the server creates on its first start, and what `sweep run` logs in with)"
        )
    if len(password) < 12:  # MLflow's own minimum; checked here so the error is one line
        raise SweepError("--auth: the admin password must be at least 12 characters")
    # A key made up per start is enough: it only signs the UI's forms, which a restart may invalidate.
    secret = environ.get(SECRET_KEY) or secrets.token_hex(32)
    return {ADMIN_USERNAME: username, ADMIN_PASSWORD: password, SECRET_KEY: secret}
