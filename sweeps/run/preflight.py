"""Checks of the environment a command is about to use, made before anything starts.

A broken environment is reported like bad input: a `SweepError`, one line naming the path, URI or key
and the remedy (exit code 2), instead of a traceback halfway through. Checked here: a store that is not
an MLflow store (garbage, truncated, a folder), a store of another MLflow's schema, a tracking server
that does not answer, a database server (postgresql://…) that cannot be reached or refuses the login, a folder that
cannot be written, a port already taken, and trial resources that the machine of a local Ray lacks.
Nothing here writes anything.
"""

from __future__ import annotations

import errno
import functools
import importlib.util
import os
import re
import socket
import sqlite3
from contextlib import closing
from pathlib import Path

from sweeps.config.locations import database_kind, is_uri, sqlite_path, without_password
from sweeps.config.schema import ResourcesConfig
from sweeps.errors import SweepError
from sweeps.machine import machine_gpus
from sweeps.record.reachability import CHECK_TIMEOUT, check_server

SQLITE_MAGIC = b"SQLite format 3\x00"  # the first 16 bytes of every SQLite database file
_HEADER = 100  # bytes of SQLite's file header


def check_store(uri: str, write: bool, key: str = "tracking.uri") -> None:
    """The MLflow store at `uri` can be read, and with `write` written: a SQLite file that is an MLflow store
    (or none yet, where `write` may create it), a tracking server that answers, or a database server that
    takes the URI's login. `key` names the setting."""
    path = sqlite_path(uri)
    if path is None:
        if uri.startswith(("http://", "https://")):
            check_server(uri)
        elif database_kind(uri) is not None:
            check_database(uri, key)
        return
    elsewhere = f"set {key} to another store (sqlite:////a/writable/folder/{path.name})"
    if path.is_dir():
        raise SweepError(f"{key}: {path} is a folder, not an MLflow store; name a file in it: sqlite:///{path}/mlflow.db")
    if not path.exists():
        if write:
            check_folder(str(path.parent), key, elsewhere)
        return
    if not os.access(path, os.R_OK, effective_ids=_EFFECTIVE):
        raise SweepError(f"{key}: cannot read {path}: permission denied; make it readable or {elsewhere}")
    problem = store_problem(path)
    if problem is not None:
        raise SweepError(f"{key}: {path} is not a usable MLflow store ({problem}); move it aside (mv {path} {path}.broken) or {elsewhere}")
    check_schema(uri, path, key, elsewhere)
    if write:  # SQLite writes a journal beside the file
        blocked = path if not os.access(path, os.W_OK, effective_ids=_EFFECTIVE) else _unwritable(path.parent)
        if blocked is not None:
            raise SweepError(f"{key}: cannot write to {path}: {blocked} is read-only; make it writable, or copy the store and {elsewhere}")


def check_database(uri: str, key: str) -> None:
    """The database server of `uri` answers and takes its login (user, password, database), in one connection.

    MLflow creates its tables on the server's first start, so an empty database is fine; the login needs the
    right to create them. A password may also come from PGPASSWORD or ~/.pgpass (libpq's own)."""
    shown, kind = without_password(uri), database_kind(uri)
    try:
        import sqlalchemy
        from sqlalchemy.pool import NullPool

        engine = sqlalchemy.create_engine(uri, poolclass=NullPool, connect_args=_CONNECT_TIMEOUT.get(kind, {}))
    except ModuleNotFoundError as error:  # the dialect's driver (psycopg for postgresql://)
        install = "pip install 'sweeps[postgres]'" if kind == "postgresql" else f"install SQLAlchemy's driver for {kind}"
        raise SweepError(f"{key}: {shown} needs the database driver {error.name!r}, which is not installed; {install}") from None
    except sqlalchemy.exc.ArgumentError as error:
        raise SweepError(f"{key}: {shown} is not a database URI ({error}); e.g. postgresql://USER@HOST:5432/DATABASE") from None
    try:
        with engine.connect():
            pass
    except sqlalchemy.exc.DBAPIError as error:
        # The driver's first line names the cause: refused, timed out, password authentication failed, no such database.
        cause = " ".join(str(error.orig).split("\n")[0].split())
        raise SweepError(
            f"{key}: cannot log in to {shown}: {cause}; start the database server, or correct the host, port, user, "
            "password (or PGPASSWORD / ~/.pgpass) and database in the URI"
        ) from None
    finally:
        engine.dispose()


# The driver's own bound on a connection attempt (seconds), so that an unreachable host fails the check quickly.
_CONNECT_TIMEOUT: dict[str | None, dict[str, int]] = {kind: {"connect_timeout": int(CHECK_TIMEOUT)} for kind in ("postgresql", "mysql")}


def store_problem(path: Path) -> str | None:
    """Why the file at `path` is not an MLflow SQLite store (garbage, truncated, another database), or None."""
    size = path.stat().st_size
    if size == 0:
        return "an empty file"
    with path.open("rb") as file:
        header = file.read(_HEADER)
    if not header.startswith(SQLITE_MAGIC):
        return "not an SQLite database"
    if len(header) < _HEADER:
        return f"truncated: {size} bytes"
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size  # the format writes 65536 as 1
    pages = int.from_bytes(header[28:32], "big")
    if header[24:28] == header[92:96] and size < page_size * pages:  # the in-header size is valid
        return f"truncated: {size} of {page_size * pages} bytes"
    try:
        with closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as connection:
            tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "alembic_version" not in tables:
                return "an SQLite database without MLflow's tables"
            connection.execute("SELECT version_num FROM alembic_version").fetchall()
    except sqlite3.Error as error:
        return str(error)
    return None


def check_schema(uri: str, path: Path, key: str, elsewhere: str) -> None:
    """The store's schema is the one this MLflow's migrations end at: an older one needs `mlflow db upgrade`,
    one this MLflow has no migration for was written by a newer MLflow. MLflow itself refuses both, later."""
    with closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as connection:
        found = [row[0] for row in connection.execute("SELECT version_num FROM alembic_version")]
    if not found:  # a store MLflow is creating at this moment: it stamps the revision last
        return
    head, known = _schema_revisions()
    if found[0] == head:
        return
    import mlflow

    if found[0] in known:
        raise SweepError(
            f"{key}: {path} has an older MLflow schema (revision {found[0]}; MLflow {mlflow.__version__} needs {head}); "
            f"back it up, then upgrade it: mlflow db upgrade {uri}"
        )
    raise SweepError(
        f"{key}: {path} was written by an MLflow newer than {mlflow.__version__} (schema revision {found[0]} is unknown "
        f"to it); use an MLflow at least as new as the one that wrote it, or {elsewhere}"
    )


@functools.lru_cache(maxsize=1)
def _schema_revisions() -> tuple[str, frozenset[str]]:
    """The revision this MLflow's schema migrations end at, and every revision they pass through.

    Read from each migration file's `revision = "…"` and `down_revision = "…"` lines, without importing
    MLflow: alembic's reading (`ScriptDirectory` with MLflow's alembic config) imports MLflow first, ~2 s that
    `sweep plan` of a SQLite store's study otherwise never spends. Should a file not say them in that form (a
    merge names several down revisions), alembic reads them after all."""
    folder = _migrations()
    links: dict[str, str | None] = {}
    for path in folder.glob("*.py"):
        found = {name: value.strip("\"'") for name, value in _REVISION_LINE.findall(path.read_text(encoding="utf-8"))}
        if path.name != "__init__.py" and set(found) != {"revision", "down_revision"}:
            return _alembic_revisions()
        if found:
            links[found["revision"]] = None if found["down_revision"] == "None" else found["down_revision"]
    heads = set(links) - set(links.values())
    if len(heads) != 1 or any(down is not None and down not in links for down in links.values()):
        return _alembic_revisions()
    return heads.pop(), frozenset(links)


# A migration's own revision and the one it follows, each on a line of its own: `revision = "0a8213491aaa"`.
_REVISION_LINE = re.compile(r"""^(revision|down_revision) *= *(None|"[0-9a-f]+"|'[0-9a-f]+') *$""", re.MULTILINE)


def _migrations() -> Path:
    """The folder of the installed MLflow's schema migrations (found without importing MLflow)."""
    spec = importlib.util.find_spec("mlflow")
    assert spec is not None and spec.submodule_search_locations, "sweeps depends on mlflow"
    return Path(spec.submodule_search_locations[0]) / "store" / "db_migrations" / "versions"


def _alembic_revisions() -> tuple[str, frozenset[str]]:
    from alembic.script import ScriptDirectory
    from mlflow.store.db.utils import _get_alembic_config

    script = ScriptDirectory.from_config(_get_alembic_config(""))
    (head,) = script.get_heads()
    return head, frozenset(revision.revision for revision in script.walk_revisions())


def check_folder(location: str, key: str, remedy: str | None = None) -> None:
    """A local folder the command will write into (made if missing) can be: no file in its way, not read-only."""
    if is_uri(location):  # s3://…: reached by the trials, checked by them
        return
    path = Path(location).expanduser().absolute()
    remedy = remedy or f"set {key} to a folder you can write to"
    for part in [path, *path.parents]:
        if part.exists():
            if not part.is_dir():
                raise SweepError(f"{key}: cannot make the folder {path}: {part} is a file; {remedy}")
            blocked = _unwritable(part)
            if blocked is not None:
                raise SweepError(f"{key}: cannot write to {path}: {blocked} is read-only; make it writable, or {remedy}")
            return


def check_port_free(host: str, port: int) -> None:
    """`--port` is a port number that nothing listens on at `host`."""
    if not 0 < port < 65536:
        raise SweepError(f"--port: must be 1–65535 (got {port})")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise SweepError(f"--host: {host!r} is not an address of this machine ({error.strerror})") from None
    family, kind, _, _, address = infos[0]
    with socket.socket(family, kind) as probe:
        # As the server will: a port whose last connections are closing (TIME_WAIT) can be listened on again.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise SweepError(f"--port: {port} is in use on {host}; pick another, e.g. --port {port + 1}") from None
            raise SweepError(f"--host: cannot listen on {host}:{port} ({error.strerror})") from None


def check_cluster(address: str | None) -> None:
    """A cluster named by HOST:PORT answers on that port (Ray itself would retry for a minute or more)."""
    if address is None or address == "auto":  # a Ray started for the run; `auto` is found by Ray (sweeps.run.experiment)
        return
    host, port = address.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=CHECK_TIMEOUT).close()
    except OSError as error:
        raise SweepError(
            f"resources.address: no Ray cluster answers at {address} ({error.strerror or type(error).__name__}); "
            f"start its head there (ray start --head --port {port}) or set resources.address to a running one"
        ) from None


def check_local_resources(resources: ResourcesConfig) -> None:
    """A Ray started for the run can place a trial: it asks for no more CPUs and GPUs than the machine has.

    A cluster (`resources.address`) is checked when `sweep run` joins it (sweeps/run/pending.py).
    """
    if resources.address is not None:
        return
    cpus = resources.local_cpus
    gpus = machine_gpus()
    machine = f"this machine gives Ray {cpus:g} CPUs and {gpus} GPUs"
    if resources.cpus_per_trial > cpus:
        raise SweepError(
            f"resources.cpus_per_trial: {resources.cpus_per_trial:g} CPUs per trial, but {machine}; "
            f"allowed: at most {cpus:g} (a trial would wait forever)"
        )
    if resources.gpus_per_trial > gpus:
        raise SweepError(
            f"resources.gpus_per_trial: {resources.gpus_per_trial:g} GPUs per trial, but {machine}; allowed: at most {gpus} (0: CPU only)"
        )


# Permissions as this process has them (its effective user), where the platform can tell.
_EFFECTIVE = os.access in os.supports_effective_ids


def _unwritable(folder: Path) -> Path | None:
    """`folder` if this process cannot create files in it (read-only, or not its own), else None."""
    return None if os.access(folder, os.W_OK | os.X_OK, effective_ids=_EFFECTIVE) else folder
