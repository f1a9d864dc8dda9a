"""Process-wide settings, applied once by the `sweep` command (library functions leave the process alone).

Third-party chatter that would bury the sweep's own lines is turned down, MLflow's client gives up on an
unanswered request in seconds rather than minutes, and a Ray started on this machine is kept on the
loopback interface.
"""

from __future__ import annotations

import logging
import os

# Environment switches read by the libraries when they act (not on import), each with its reason.
_QUIET_ENVIRONMENT = {
    "MLFLOW_LOGGING_LEVEL": "WARNING",  # MLflow sets its loggers' level from this when it is imported
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",  # one progress bar per artifact download otherwise
    "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1",  # Tune's CSV/JSON/TensorBoard files: MLflow is the record
    "RAY_AIR_NEW_OUTPUT": "0",  # Tune's own progress tables; `sweep run` prints its own progress
    "TUNE_PRINT_ALL_TRIAL_ERRORS": "0",  # a failed trial's traceback: the recorder prints one line and its error file
}
_QUIET_LOGGERS = ("mlflow", "alembic")  # MLflow's schema-migration lines when a store is created


def quiet_libraries() -> None:
    """Keep third-party libraries to warnings and errors; a value the user set in the environment wins."""
    for name, value in _QUIET_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


# MLflow's HTTP client retries a failed request 7 times with backoff factor 2 (about four minutes) and waits
# 120 s for an answer. `sweep run` holds a write it could not send and sends it later (sweeps/record/outbox.py),
# and every other command reports an away server in one line, so a few seconds of retries are enough.
_MLFLOW_RETRIES = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",  # retries after 0 s and 2 s (plus up to 1 s of jitter)
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",  # seconds without an answer (an artifact upload's bytes keep it alive)
}


def bound_mlflow_retries() -> None:
    """MLflow's retries of an unanswered request bounded to seconds; a value the user set wins."""
    for name, value in _MLFLOW_RETRIES.items():
        os.environ.setdefault(name, value)


def quiet_optuna() -> None:
    """Optuna to warnings: it logs `[I …] A new study created in memory` and a line per sample otherwise.

    Optuna sets its own level when it is first imported, so this runs after that (`sweep run` imports
    it with the search code anyway).
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)


def keep_ray_on_loopback(address: str | None) -> None:
    """A Ray on this machine (one started for the run, or a cluster addressed as 127.0.0.1) stays on loopback.

    Otherwise Ray replaces 127.0.0.1 by this machine's network address and its servers listen on every
    interface. Ray's switch for single-machine clusters keeps both on 127.0.0.1; Ray reads it on import,
    so this runs before Ray is imported. Ray's documented option is no substitute: `ray.init(
    _node_ip_address="127.0.0.1")` and `ray start --node-ip-address 127.0.0.1` pass through Ray's
    `resolve_ip_for_localhost`, which turns a loopback address into the network one on purpose
    (ray-project/ray#26293, #59110); measured with Ray 2.x here, its servers then listen on that address
    and on `::` (tests/test_ray_loopback.py). The switch is Ray's own constant (`ENABLE_RAY_CLUSTER`,
    off by default on Windows and macOS), which makes it use 127.0.0.1 as the node address.
    """
    host = (address or "127.0.0.1").rsplit(":", 1)[0]
    if host in ("127.0.0.1", "localhost"):
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
