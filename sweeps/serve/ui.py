"""`sweep ui`: the MLflow UI of the configured tracking store, served on the loopback interface only."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from hydra import compose
from omegaconf import OmegaConf
from pydantic import ValidationError

from sweeps.config.compose import one_line_errors, parse_overrides
from sweeps.config.locations import sqlite_path
from sweeps.config.schema import TrackingConfig, describe_validation_error
from sweeps.config.sources import Configs
from sweeps.errors import SweepError
from sweeps.record.store import all_experiments, client_for, question_filter, store_exists
from sweeps.run.preflight import check_port_free, check_store
from sweeps.serve.server import ServerOptions, ServerProcess, server_process

HOST = "127.0.0.1"  # loopback only: the runs are this machine's user's, not the network's
ARTIFACTS = "mlartifacts"  # beside a SQLite store, where `sweep run` puts each study's artifacts
# What `mlflow server` says on every start that is no error (the rest of its output is passed on).
NOTICES = ("[MLflow] Security middleware enabled", "Registry store URI not provided")


def configured_uri(overrides: Sequence[str], configs: Configs | None = None) -> str:
    """`tracking.uri` of config.yaml with the user's overrides applied (no study needed); `configs`: with a
    course folder, its tracking/ options too."""
    parse_overrides(overrides)  # grammar errors named like `sweep plan` names them
    configs = configs or Configs()
    configs.open_course()
    with configs.loader(), one_line_errors("overrides"):
        tracking = OmegaConf.to_container(compose("config", overrides=[*configs.search_path, *overrides]).tracking, resolve=True)
    try:
        return TrackingConfig.model_validate(tracking).uri
    except ValidationError as error:
        raise SweepError(describe_validation_error(error, "tracking")) from None


def experiment_links(uri: str, port: int) -> dict[str, str]:
    """Experiment name → the URL of its runs in the UI, for every experiment in the store."""
    client = client_for(uri)
    return {
        experiment.name: f"http://{HOST}:{port}/#/experiments/{experiment.experiment_id}/runs"
        for experiment in all_experiments(client)
        if experiment.name != "Default"  # MLflow's own, empty unless something logged outside sweeps
    }


def start(uri: str, port: int, out: TextIO) -> int:
    """Print where the UI is and how to filter a question's runs, then run the MLflow server until Ctrl-C."""
    if uri.startswith(("http://", "https://", "databricks")):
        print(f"sweep ui: {uri} is a tracking server: its UI is at {uri}", file=out)
        return 0
    if not store_exists(uri):
        raise SweepError(f"tracking.uri: no MLflow store at {uri}; run `sweep run STUDY` first")
    check_store(uri, write=False)
    check_port_free(HOST, port)
    store = sqlite_path(uri)
    artifacts = store.parent / ARTIFACTS if store is not None else Path(ARTIFACTS).absolute()
    print(f"sweep ui: MLflow UI for {uri} at http://{HOST}:{port}", file=out)
    for name, link in experiment_links(uri, port).items():
        print(f"  {name}: {link}", file=out)
    print(f"A question's runs (search box): {question_filter('q05')}", file=out)
    out.flush()
    options = ServerOptions(host=HOST, port=port, backend_store_uri=uri, artifacts_destination=str(artifacts), quiet=True)
    return serve_quietly(server_process(options, os.environ), sys.stderr)


def serve_quietly(process: ServerProcess, errors: TextIO) -> int:
    """Run the MLflow server until it ends, passing on only what it says that is no start-up notice.

    The server runs in a process group of its own (MLflow starts uvicorn as a child); Ctrl-C, SIGTERM
    and SIGHUP sent to `sweep ui` are passed on to that whole group, so no server outlives it.
    """
    process.cwd.mkdir(parents=True, exist_ok=True)
    child = subprocess.Popen(
        process.argv, env=process.env, cwd=process.cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True,
    )  # fmt: skip

    stopping: list[int] = []  # the signal that asked the server to stop; what it says after that is no error

    def forward(signum: int, frame: object) -> None:
        stopping.append(signum)
        try:
            os.killpg(child.pid, signum)
        except ProcessLookupError:
            pass

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        assert child.stdout is not None
        for line in child.stdout:
            if line.strip() and not stopping and not line.lstrip().startswith(NOTICES):
                errors.write(line)
                errors.flush()
        code = child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if stopping:
        return 0  # stopped as asked (Ctrl-C)
    return 128 - code if code < 0 else code  # killed by a signal: the shell's convention

