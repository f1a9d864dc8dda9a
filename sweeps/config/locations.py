"""Where things are stored, parsed in one place: local paths, `sqlite:///` tracking URIs and other URIs.

A user writes relative paths (`data`, `sqlite:///mlflow.db`); trials run in other working directories,
so every local location is made absolute once, when the plan is made.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

SQLITE = "sqlite:///"  # MLflow's embedded store: the rest of the URI is a file path


def is_uri(location: str) -> bool:
    """`s3://bucket/prefix`, `http://host:5000`, … rather than a path on this machine."""
    return "://" in location


def sqlite_path(uri: str) -> Path | None:
    """The database file of a `sqlite:///` URI (relative to the working directory), else None."""
    return Path(uri[len(SQLITE) :]).expanduser().absolute() if uri.startswith(SQLITE) else None


def absolute_location(location: Any) -> Any:
    """A local path made absolute; a URI (s3://…) or a non-string left as it is."""
    if not isinstance(location, str) or is_uri(location):
        return location
    return str(Path(location).expanduser().absolute())


def absolute_tracking_uri(uri: Any) -> Any:
    """A `sqlite:///relative.db` URI with its file made absolute; any other URI as it is."""
    path = sqlite_path(uri) if isinstance(uri, str) else None
    return uri if path is None else f"{SQLITE}{path}"
