"""cluster.yaml (AWS) and cluster-local.yaml (machines over SSH): valid for Ray's cluster launcher, offline.

Each file is checked against Ray's own schema as written, and again after Ray fills in its provider's
defaults, as `ray up` does before it calls a cloud. Then what docs/scaling-out.md relies on: token authentication on
every node, the MLflow server on the head (the real `sweep server` parser reads its command line), one
pinned revision of the project and of Ray on every node, and a GPU pool that scales to zero.
"""

from __future__ import annotations

import copy
import json
import shlex
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import ray
import ray.autoscaler
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

from sweeps.cli import _parser
from sweeps.serve.server import ServerOptions, server_process

ROOT = Path(__file__).resolve().parent.parent
FILES = ("cluster.yaml", "cluster-local.yaml")
SCHEMA = json.loads((Path(ray.autoscaler.__file__).parent / "ray-schema.json").read_text())


@pytest.fixture(params=FILES)
def config(request: pytest.FixtureRequest) -> dict[str, Any]:
    return yaml.safe_load((ROOT / request.param).read_text())


def test_matches_rays_schema_as_written_and_once_ray_fills_in_defaults(config: dict[str, Any]) -> None:
    jsonschema.validate(config, SCHEMA)
    validate_config(prepare_config(config))


def test_the_schema_check_catches_a_misspelt_key(config: dict[str, Any]) -> None:
    broken = copy.deepcopy(config)
    broken["head_start_ray_command"] = broken.pop("head_start_ray_commands")
    with pytest.raises(jsonschema.ValidationError, match="head_start_ray_command"):
        jsonschema.validate(broken, SCHEMA)


def test_every_ray_start_uses_token_authentication_with_the_token_copied_to_each_node(config: dict[str, Any]) -> None:
    starts = [c for c in config["head_start_ray_commands"] + config["worker_start_ray_commands"] if "ray start" in c]
    assert len(starts) == 2
    assert all("RAY_AUTH_MODE=token ray start" in command for command in starts)
    token = {remote: local for remote, local in config["file_mounts"].items() if remote.endswith("/.ray/auth_token")}
    assert list(token.values()) == ["~/.ray/auth_token"]  # where `ray get-auth-token --generate` writes it


def test_the_head_starts_the_mlflow_server_with_sqlite_and_served_artifacts(config: dict[str, Any]) -> None:
    [command] = [c for c in config["head_start_ray_commands"] if "sweep server" in c]
    words = shlex.split(command)
    start = words.index("sweep") + 1
    end = next(i for i, word in enumerate(words) if i > start and word[0] in ">&)")
    args = _parser().parse_args(words[start:end])
    assert args.backend_store_uri.startswith("sqlite:///")
    assert args.artifacts_destination.endswith("/mlartifacts")
    assert args.host == "127.0.0.1"  # only the driver, on the head, talks to it
    assert "/health" in command  # a second `ray up` leaves the running server alone
    assert f"SWEEPS_TRACKING=http://127.0.0.1:{args.port} " in _head_start(config)  # the driver's tracking.uri
    assert "--dashboard-host=127.0.0.1" in _head_start(config)  # Ray's dashboard: through an SSH tunnel only


@pytest.mark.parametrize("name", FILES)
def test_the_postgresql_store_the_comments_offer_is_one_the_server_takes(name: str) -> None:
    [line] = [line for line in (ROOT / name).read_text().splitlines() if "--backend-store-uri postgresql" in line]
    assert line.lstrip().startswith("#")  # an option: the file as loaded starts SQLite
    uri = line.split("--backend-store-uri", 1)[1].strip()
    process = server_process(ServerOptions(backend_store_uri=uri), {})
    assert process.env["MLFLOW_BACKEND_STORE_URI"] == uri and ":" not in uri.split("//", 1)[1].split("@")[0]  # no password


def test_every_node_installs_this_checkout_and_exactly_this_ray(config: dict[str, Any]) -> None:
    [checkout] = [remote for remote, local in config["file_mounts"].items() if local == "."]
    assert config["rsync_filter"] == [".gitignore"]  # the checkout as git sees it, without venvs and results
    setup = " ".join(config["setup_commands"])
    assert f"-e {checkout}" in setup
    assert f"'ray[default]=={ray.__version__}'" in setup  # the launcher and the cluster run one Ray


def test_the_driver_gets_shared_storage_from_the_head(config: dict[str, Any]) -> None:
    storage = _head_start(config).split("SWEEPS_STORAGE=")[1].split(";")[0]
    assert storage.startswith("s3://") if config["provider"]["type"] == "aws" else storage.startswith("/")


def test_the_aws_gpu_pool_scales_from_zero_and_the_head_runs_no_trials() -> None:
    config = yaml.safe_load((ROOT / "cluster.yaml").read_text())
    types = config["available_node_types"]
    head = types[config["head_node_type"]]
    [gpu] = [node for node in types.values() if node["resources"].get("GPU")]
    assert head["resources"] == {"CPU": 0}
    assert gpu["min_workers"] == 0 and gpu["max_workers"] >= 1
    assert gpu["node_config"]["InstanceMarketOptions"] == {"MarketType": "spot"}
    assert config["idle_timeout_minutes"] > 0


def _head_start(config: dict[str, Any]) -> str:
    return next(command for command in config["head_start_ray_commands"] if "ray start --head" in command)
