"""Whether an MLflow tracking server (`tracking.uri=http://…`) answers, asked once and briefly.

MLflow's own client retries a request with exponential backoff (MLFLOW_HTTP_REQUEST_MAX_RETRIES=7 and
MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR=2 by default: about four minutes) before it raises. A command checks its
server here first, in seconds, and the `sweep run` driver asks here whether an away server is back.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from sweeps.errors import SweepError, chain

CHECK_TIMEOUT = 5.0  # seconds for the first answer of a server a command is about to use
PROBE_TIMEOUT = 2.0  # seconds for "is it back?" while the driver holds writes
_PROBE = "/api/2.0/mlflow/experiments/search?max_results=1"  # MLflow's REST API, behind its auth if any


def check_server(uri: str) -> None:
    """A SweepError naming `uri` and the remedy unless an MLflow server answers there and takes our credentials."""
    import requests
    import urllib3
    from mlflow.exceptions import MlflowException

    start = f"start it (sweep server --port {urlsplit(uri).port or 5000}) or set tracking.uri to a running one"
    try:
        status = _ask(uri, _PROBE, CHECK_TIMEOUT)
    except MlflowException as error:
        timeouts = (requests.exceptions.Timeout, urllib3.exceptions.TimeoutError)  # wrapped by MLflow (and urllib3's retry)
        if any(isinstance(link, timeouts) for link in chain(error)):
            raise SweepError(f"tracking.uri: no answer from {uri} in {CHECK_TIMEOUT:g} s; {start}") from None
        if unreachable(error):
            raise SweepError(f"tracking.uri: no MLflow server answers at {uri} ({reason(error)}); {start}") from None
        raise SweepError(f"tracking.uri: cannot ask {uri}: {str(error).splitlines()[0]}") from None
    if status in (401, 403):
        raise SweepError(
            f"tracking.uri: {uri} refused our credentials (HTTP {status}); set MLFLOW_TRACKING_USERNAME and "
            "MLFLOW_TRACKING_PASSWORD (or ~/.mlflow/credentials) to a user of that server"
        )
    if status != 200:
        raise SweepError(f"tracking.uri: {uri} is not an MLflow tracking server (HTTP {status} from its REST API); {start}")


def answers(uri: str) -> bool:
    """Whether the server at `uri` answers its health check now (one try, PROBE_TIMEOUT seconds)."""
    from mlflow.exceptions import MlflowException

    try:
        return _ask(uri, "/health", PROBE_TIMEOUT) == 200
    except MlflowException:
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


def _ask(uri: str, endpoint: str, timeout: float) -> int:
    """The HTTP status of one GET of `endpoint`, made as MLflow's client makes its requests: the credentials,
    certificates and auth plugin it would use (environment, ~/.mlflow/credentials), without its retries."""
    from mlflow.utils.credentials import get_default_host_creds
    from mlflow.utils.rest_utils import http_request

    creds = get_default_host_creds(uri)
    response = http_request(creds, endpoint, "GET", max_retries=0, backoff_factor=0, timeout=timeout, raise_on_status=False)
    return int(response.status_code)
