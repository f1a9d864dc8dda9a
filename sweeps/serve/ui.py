"""`sweep ui`: the MLflow UI of the configured tracking store, served on the loopback interface only."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

import yaml
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import HydraException
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException
from pydantic import ValidationError

from sweeps.config.compose import CONF_DIR, parse_overrides, yaml_error
from sweeps.config.locations import sqlite_path
from sweeps.config.schema import TrackingConfig, describe_validation_error
from sweeps.errors import SweepError
from sweeps.record.store import all_experiments, client_for, question_filter, store_exists
from sweeps.run.preflight import check_port_free, check_store
from sweeps.serve.server import ServerOptions, ServerProcess, server_process

HOST = "127.0.0.1"  # loopback only: the runs are this machine's user's, not the network's
ARTIFACTS = "mlartifacts"  # beside a SQLite store, where `sweep run` puts each study's artifacts
# What `mlflow server` says on every start that is no error (the rest of its output is passed on).
NOTICES = ("[MLflow] Security middleware enabled", "Registry store URI not provided")


def configured_uri(overrides: Sequence[str], conf_dir: Path = CONF_DIR) -> str:
    """`tracking.uri` of conf/config.yaml with the user's overrides applied (no study needed)."""
    parse_overrides(overrides)  # grammar errors named like `sweep plan` names them
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(str(conf_dir), version_base=None):
            tracking = OmegaConf.to_container(compose("config", overrides=list(overrides)).tracking, resolve=True)
    except (HydraException, OmegaConfBaseException) as error:
        raise SweepError(f"overrides: {str(error).strip().splitlines()[0]}") from None
    except yaml.YAMLError as error:
        raise SweepError(yaml_error(error)) from None
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

