"""Whether an MLflow tracking server (`tracking.uri=http://…`) answers, asked once and briefly.

MLflow's own client retries a request with exponential backoff (MLFLOW_HTTP_REQUEST_MAX_RETRIES=7 and
MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR=2 by default: about four minutes) before it raises. A command checks its
server here first, in seconds, and the `sweep run` driver asks here whether an away server is back.
"""

from __future__ import annotations

import os
import re
from typing import Any
from urllib.parse import urlsplit

from sweeps.errors import SweepError, chain

CHECK_TIMEOUT = 5.0  # seconds for the first answer of a server a command is about to use
PROBE_TIMEOUT = 2.0  # seconds for "is it back?" while the driver holds writes
_PROBE = "/api/2.0/mlflow/experiments/search?max_results=1"  # MLflow's REST API, behind its auth if any


def check_server(uri: str) -> None:
    """A SweepError naming `uri` and the remedy unless an MLflow server answers there and takes our credentials."""
    import requests

    start = f"start it (sweep server --port {urlsplit(uri).port or 5000}) or set tracking.uri to a running one"
    try:
        response = requests.get(f"{uri.rstrip('/')}{_PROBE}", timeout=CHECK_TIMEOUT, **_client_settings())
    except requests.exceptions.Timeout:
        raise SweepError(f"tracking.uri: no answer from {uri} in {CHECK_TIMEOUT:g} s; {start}") from None
    except requests.exceptions.RequestException as error:
        raise SweepError(f"tracking.uri: no MLflow server answers at {uri} ({reason(error)}); {start}") from None
    if response.status_code in (401, 403):
        raise SweepError(
            f"tracking.uri: {uri} refused our credentials (HTTP {response.status_code}); set MLFLOW_TRACKING_USERNAME "
            "and MLFLOW_TRACKING_PASSWORD to a user of that server"
        )
    if response.status_code != 200:
        raise SweepError(f"tracking.uri: {uri} is not an MLflow tracking server (HTTP {response.status_code} from its REST API); {start}")


def answers(uri: str) -> bool:
    """Whether the server at `uri` answers its health check now (one try, PROBE_TIMEOUT seconds)."""
    import requests

    try:
        return requests.get(f"{uri.rstrip('/')}/health", timeout=PROBE_TIMEOUT, **_client_settings()).status_code == 200
    except requests.exceptions.RequestException:
        return False


def unreachable(error: BaseException) -> bool:
    """Whether `error`, or an error it was raised from or while handling, says the server could not be
    reached, broke the connection or did not answer in time (as opposed to a request it refused)."""
    import http.client

    import requests
    import urllib3

    transport = (
        requests.exceptions.ConnectionError,  # refused, reset, unknown host
        requests.exceptions.Timeout,
        requests.exceptions.RetryError,  # 5xx answers until MLflow's retries ran out
        requests.exceptions.ChunkedEncodingError,  # the server died mid-answer
        urllib3.exceptions.HTTPError,
        http.client.HTTPException,
        ConnectionError,
    )
    return any(isinstance(link, transport) for link in chain(error))


def reason(error: BaseException) -> str:
    """The operating system's words for a failed connection (`Connection refused`), else the error's type."""
    for link in chain(error):
        found = re.findall(r"\[Errno -?\d+\] ([^'\")\]]+)", str(link))
        if found:
            return found[-1].strip()
    return type(error).__name__


def _client_settings() -> dict[str, Any]:
    """Credentials and TLS settings from the environment, the variables MLflow's client reads."""
    environ = os.environ
    settings: dict[str, Any] = {}
    if environ.get("MLFLOW_TRACKING_USERNAME") and environ.get("MLFLOW_TRACKING_PASSWORD"):
        settings["auth"] = (environ["MLFLOW_TRACKING_USERNAME"], environ["MLFLOW_TRACKING_PASSWORD"])
    if environ.get("MLFLOW_TRACKING_TOKEN"):
        settings["headers"] = {"Authorization": f"Bearer {environ['MLFLOW_TRACKING_TOKEN']}"}
    if environ.get("MLFLOW_TRACKING_INSECURE_TLS", "").lower() == "true":
        settings["verify"] = False
    elif environ.get("MLFLOW_TRACKING_SERVER_CERT_PATH"):
        settings["verify"] = environ["MLFLOW_TRACKING_SERVER_CERT_PATH"]
    return settings
