"""Where things are stored, parsed in one place: local paths, `sqlite:///` tracking URIs, database URIs
(`postgresql://user:password@host/db`) and other URIs.

A user writes relative paths (`data`, `sqlite:///mlflow.db`); trials run in other working directories,
so every local location is made absolute once, when the plan is made.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

SQLITE = "sqlite:///"  # MLflow's embedded store: the rest of the URI is a file path
# Database servers MLflow's SQLAlchemy store can keep runs in; a `+driver` may follow (postgresql+psycopg://).
DATABASE_SCHEMES = ("postgresql", "mysql", "mssql")


def is_uri(location: str) -> bool:
    """`s3://bucket/prefix`, `http://host:5000`, … rather than a path on this machine."""
    return "://" in location


def sqlite_path(uri: str) -> Path | None:
    """The database file of a `sqlite:///` URI (relative to the working directory), else None."""
    return Path(uri[len(SQLITE) :]).expanduser().absolute() if uri.startswith(SQLITE) else None


def database_kind(uri: str) -> str | None:
    """The database of a database server's URI without its driver (postgresql+psycopg://… → postgresql), else None."""
    kind = uri.partition("://")[0].partition("+")[0]
    return kind if kind in DATABASE_SCHEMES else None


def without_password(uri: str) -> str:
    """`uri` with the password of its login (user:password@host) shown as ***, for printing."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    login, _, host = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{login.partition(':')[0]}:***@{host}"))


def absolute_location(location: Any) -> Any:
    """A local path made absolute; a URI (s3://…) or a non-string left as it is."""
    if not isinstance(location, str) or is_uri(location):
        return location
    return str(Path(location).expanduser().absolute())


def absolute_tracking_uri(uri: Any) -> Any:
    """A `sqlite:///relative.db` URI with its file made absolute; any other URI as it is."""
    path = sqlite_path(uri) if isinstance(uri, str) else None
    return uri if path is None else f"{SQLITE}{path}"
