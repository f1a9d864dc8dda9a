"""A PostgreSQL server of a test's own: a fresh cluster (`initdb`) in a temporary folder, on a free loopback
port, stopped and removed at the end. Debian's `postgresql` package provides the binaries
(/usr/lib/postgresql/VERSION/bin); without them `postgres_binaries` returns None and the caller skips.

PostgreSQL refuses to run as root, so as root the cluster belongs to the unprivileged `postgres` user
(which the package creates) and every binary runs as that user; otherwise it is the caller's.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from helpers.loopback import free_port

USER, PASSWORD, DATABASE = "sweeps", "a-test-only-password", "sweeps"  # the login a store URI names
SEARCHED = "/usr/lib/postgresql/*/bin"  # Debian's layout, one folder per major version
START_TIMEOUT = 60  # seconds for `pg_ctl start -w` on a loaded machine


@dataclass(frozen=True)
class Postgres:
    port: int
    folder: Path  # the cluster's data, its socket and its log

    def uri(self, database: str = DATABASE, password: str = PASSWORD) -> str:
        """The SQLAlchemy URI of `database`, logging in as `USER` with `password`."""
        return f"postgresql://{USER}:{password}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A new empty database owned by `USER`; its URI."""
        import psycopg

        # autocommit: CREATE DATABASE runs outside a transaction
        with psycopg.connect(host="127.0.0.1", port=self.port, user=USER, password=PASSWORD, dbname="postgres", autocommit=True) as db:
            db.execute(f"CREATE DATABASE {name} OWNER {USER}")
        return self.uri(name)

    def query(self, database: str, sql: str) -> list[tuple[object, ...]]:
        """The rows `sql` returns in `database`."""
        import psycopg

        with psycopg.connect(self.uri(database)) as db:
            return db.execute(sql).fetchall()


def missing() -> str | None:
    """Why no PostgreSQL can be started here (a reason to skip), or None."""
    if postgres_binaries() is None:
        return f"PostgreSQL is not installed (no initdb and pg_ctl under {SEARCHED}; apt-get install postgresql)"
    if importlib.util.find_spec("psycopg") is None:
        return "no PostgreSQL driver for MLflow's store (pip install 'sweeps[postgres]')"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root, and no unprivileged `postgres` user to run PostgreSQL as"
    return None


def postgres_binaries() -> Path | None:
    """The folder of the newest installed PostgreSQL's initdb and pg_ctl, or None."""
    found = sorted(Path("/").glob(SEARCHED.lstrip("/")), key=lambda folder: int(folder.parent.name), reverse=True)
    return next((folder for folder in found if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file()), None)


@contextmanager
def running_postgres(binaries: Path) -> Iterator[Postgres]:
    """A fresh cluster with the database `DATABASE`, owned by `USER`, who logs in with `PASSWORD` (SCRAM)."""
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    folder = Path(tempfile.mkdtemp(prefix="sweeps-pg-", dir="/tmp"))  # not under a root-only pytest folder
    if as_user:
        record = pwd.getpwnam("postgres")
        os.chown(folder, record.pw_uid, record.pw_gid)
    data, log, secret = folder / "data", folder / "server.log", folder / "password"
    port = free_port()
    try:
        secret.write_text(PASSWORD)
        if as_user:
            os.chown(secret, record.pw_uid, record.pw_gid)
        _run([*as_user, str(binaries / "initdb"), "-D", str(data), "-U", USER, f"--pwfile={secret}", "--auth=scram-sha-256",
              "--encoding=UTF8", "--no-sync"])  # fmt: skip
        # Loopback TCP only; the socket in the cluster's own folder (the default /var/run/postgresql may be root's).
        options = f"-h 127.0.0.1 -p {port} -k {folder} -c fsync=off"
        _run([*as_user, str(binaries / "pg_ctl"), "start", "-w", "-t", str(START_TIMEOUT), "-D", str(data), "-l", str(log), "-o", options])
        try:
            server = Postgres(port, folder)
            server.create_database(DATABASE)
            yield server
        finally:
            _run([*as_user, str(binaries / "pg_ctl"), "stop", "-m", "fast", "-w", "-D", str(data)])
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _run(argv: list[str]) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=START_TIMEOUT + 30)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {result.returncode}: {result.stdout}{result.stderr}")
