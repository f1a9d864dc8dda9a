"""A Ray cluster of one-CPU nodes on this machine's loopback, with `sweep server` as its MLflow server.

The head and each further node are separate `ray start --block` processes (own ports, token authentication
as cluster.yaml sets it up, a custom resource naming each node); everything listens on 127.0.0.1 only. The
processes carry the test's private RAY_TMPDIR (and NODE, their node's name), so the test stops its own
processes and nothing else. tests/conftest.py hands one out as the `cluster` fixture.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helpers.loopback import free_port, wait_until_up
from helpers.sweep_cli import SweepCli

NODES = ("node_a", "node_b")  # the custom resource that names each node
NODE = "SWEEPS_TEST_NODE"  # environment variable: the node a process belongs to (its raylet, its workers)
TOKEN_AUTH = {"RAY_AUTH_MODE": "token"}  # every node and driver presents the token, as cluster.yaml sets it up
# Ray's command line (`ray …`), except that Ray would replace 127.0.0.1 (--node-ip-address, --address) by
# this machine's network address and then listen on every interface: the test's cluster stays on loopback.
RAY_CLI = (
    "import ray._private.services as services; services.resolve_ip_for_localhost = lambda host: host; "
    "from ray.scripts.scripts import main; main()"
)
# Node id → the custom resources that name it, for every live node (a driver of its own).
NODE_NAMES = (
    "import json, sys, ray; ray.init(address=sys.argv[1], logging_level='ERROR', log_to_driver=False); "
    "print(json.dumps({n['NodeID']: [r for r in n['Resources'] if r.startswith('node_')] for n in ray.nodes() if n['Alive']}))"
)


@dataclass
class LoopbackCluster:
    cli: SweepCli  # its working folder holds the store, the logs and the storage; its RAY_TMPDIR marks our processes
    nodes: tuple[str, ...] = NODES  # the head first; each a one-CPU node
    ray_port: int = field(default_factory=free_port)
    mlflow_port: int = field(default_factory=free_port)
    started: list[subprocess.Popen[Any]] = field(default_factory=list)

    @property
    def root(self) -> Path:
        return self.cli.workdir

    @property
    def env(self) -> dict[str, str]:
        return {**self.cli.env, **TOKEN_AUTH}

    @property
    def tracking_uri(self) -> str:
        return f"http://127.0.0.1:{self.mlflow_port}"

    def start(self) -> None:
        # The token every node and driver presents (cluster.yaml copies the user's to each node).
        ray_cli = [sys.executable, "-c", RAY_CLI]
        subprocess.run([*ray_cli, "get-auth-token", "--generate"], env=self.env, check=True, capture_output=True, timeout=120)
        with (self.root / "mlflow.log").open("w") as log:  # `sweep server`, in a session of its own too
            self.started.append(self.cli.popen("server", "--port", str(self.mlflow_port),
                                               "--backend-store-uri", f"sqlite:///{self.root / 'mlflow.db'}",
                                               "--artifacts-destination", str(self.root / "artifacts"), stdout=log))  # fmt: skip
        head, *others = self.nodes
        head_args = ["--head", "--port", str(self.ray_port), "--include-dashboard", "false"]
        self._spawn(head, [*ray_cli, "start", "--block", *head_args, *self._node_args(head)])
        for joined, name in enumerate(others, start=1):  # one at a time: `ray start` gives a node 30 s to register
            self.node_names(expected=joined)
            self._spawn(name, [*ray_cli, "start", "--block", "--address", f"127.0.0.1:{self.ray_port}", *self._node_args(name)])

    @staticmethod
    def _node_args(name: str) -> list[str]:
        return ["--node-ip-address", "127.0.0.1", "--num-cpus", "1", "--resources", json.dumps({name: 1}),
                "--dashboard-agent-listen-port", str(free_port()), "--disable-usage-stats"]  # fmt: skip

    def _spawn(self, name: str, argv: list[str]) -> None:
        with (self.root / f"{name}.log").open("wb") as log:
            # Own session: the test stops each one's whole process group, and nothing else. NODE marks every
            # process of the node, to kill the node alone (`lose_node`).
            env = {**self.env, NODE: name}
            self.started.append(subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))

    def node_names(self, expected: int, timeout: float = 120) -> dict[str, str]:
        """Node id → node_a / node_b, once `expected` nodes are up."""
        deadline = time.monotonic() + timeout
        env = {**self.env, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}  # keep 127.0.0.1 (cf. RAY_CLI)
        while time.monotonic() < deadline:
            probe = subprocess.run([sys.executable, "-c", NODE_NAMES, f"127.0.0.1:{self.ray_port}"],
                                   env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
            nodes = json.loads(probe.stdout.splitlines()[-1]) if probe.returncode == 0 and probe.stdout else {}
            if len(nodes) == expected:
                return {node_id: names[0] for node_id, names in nodes.items()}
            time.sleep(1)
        tails = {name: (self.root / f"{name}.log").read_text(errors="replace").splitlines()[-5:] for name in self.nodes}
        raise AssertionError(f"{expected} Ray nodes not up in {timeout} s; see {self.root}/*.log; their last lines: {tails}")

    def lose_node(self, name: str) -> None:
        """A reclaimed spot node: its raylet and every worker on it killed at once (SIGKILL, no goodbye)."""
        mark = f"{NODE}={name}".encode()
        for pid in self.cli.processes():
            with contextlib.suppress(OSError):  # gone meanwhile
                if mark in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
                    os.kill(pid, signal.SIGKILL)

    def wait_for_mlflow(self) -> None:
        wait_until_up(f"{self.tracking_uri}/health", self.started[0])  # `sweep server`, started first

    def stop(self, timeout: float = 120) -> list[int]:
        """SIGTERM to each process group, the second node first; what is still alive after `timeout`."""
        for process in reversed(self.started):
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout
        while self.cli.processes() and time.monotonic() < deadline:
            time.sleep(0.5)
        for process in self.started:
            process.poll()  # reap
        return self.cli.processes()
