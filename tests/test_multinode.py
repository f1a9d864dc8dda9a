"""Two Ray nodes on one machine and a real MLflow server: one `sweep run` through them, as on a cluster.

The head and a second node are separate `ray start --block` processes (own ports, token authentication as
cluster.yaml sets it up, custom resources node_a / node_b naming them); `sweep server` is the MLflow
server. Each node offers 1 CPU and each trial asks for 1, so of the three trials the first two start at
once, one per node, and on a cluster a trial keeps the node its resources were reserved on: both nodes
run trials, every time. Everything listens on 127.0.0.1 only, and at the end nothing the test started is
left running (found by the test's private RAY_TMPDIR in each process's environment).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from loopback import free_port, wait_until_up
from mlflow.tracking import MlflowClient

pytestmark = pytest.mark.slow

STUDY = "jhu_fashion"
NODES = ("node_a", "node_b")  # the custom resource that names each node
NODE = "SWEEPS_TEST_NODE"  # environment variable: the node a process belongs to
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
    root: Path
    ray_tmp: Path  # private RAY_TMPDIR: short (Ray's socket paths are length-limited), and the mark of our processes
    nodes: tuple[str, ...] = NODES  # the head first; each a one-CPU node
    ray_port: int = field(default_factory=free_port)
    mlflow_port: int = field(default_factory=free_port)
    started: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        home = self.root / "home"
        return {**os.environ, "HOME": str(home), "RAY_TMPDIR": str(self.ray_tmp), "RAY_AUTH_MODE": "token", "PYTHONUNBUFFERED": "1"}

    @property
    def tracking_uri(self) -> str:
        return f"http://127.0.0.1:{self.mlflow_port}"

    def start(self) -> None:
        (self.root / "home").mkdir()
        # The token every node and driver presents (cluster.yaml copies the user's to each node).
        ray_cli = [sys.executable, "-c", RAY_CLI]
        subprocess.run([*ray_cli, "get-auth-token", "--generate"], env=self.env, check=True, capture_output=True, timeout=120)
        self._spawn("mlflow", [sys.executable, "-m", "sweeps", "server", "--port", str(self.mlflow_port),
                               "--backend-store-uri", f"sqlite:///{self.root / 'mlflow.db'}",
                               "--artifacts-destination", str(self.root / "artifacts")])  # fmt: skip
        head, *others = self.nodes
        self._spawn(head, [*ray_cli, "start", "--block", "--head", "--port", str(self.ray_port), "--include-dashboard", "false", *self._node_args(head)])
        self.node_names(expected=1)  # the other nodes join a running head
        for name in others:
            self._spawn(name, [*ray_cli, "start", "--block", "--address", f"127.0.0.1:{self.ray_port}", *self._node_args(name)])

    @staticmethod
    def _node_args(name: str) -> list[str]:
        return ["--node-ip-address", "127.0.0.1", "--num-cpus", "1", "--resources", json.dumps({name: 1}),
                "--dashboard-agent-listen-port", str(free_port()), "--disable-usage-stats"]  # fmt: skip

    def _spawn(self, name: str, argv: list[str]) -> None:
        with (self.root / f"{name}.log").open("wb") as log:
            # Own session: the test stops each one's whole process group, and nothing else. NODE marks
            # every process of a node (its raylet, its workers) to kill it alone (`lose_node`).
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
        raise AssertionError(f"{expected} Ray nodes not up in {timeout} s; see {self.root}/*.log")

    def wait_for_mlflow(self) -> None:
        wait_until_up(f"{self.tracking_uri}/health", self.started[0])  # `sweep server`, started first

    def processes(self, node: str | None = None) -> list[int]:
        """Every live process this test started, at any depth; only `node`'s when given."""
        marks = {f"RAY_TMPDIR={self.ray_tmp}".encode(), *([f"{NODE}={node}".encode()] if node else [])}
        found = []
        for proc in Path("/proc").iterdir():
            try:
                if proc.name.isdigit() and marks <= set((proc / "environ").read_bytes().split(b"\0")):
                    found.append(int(proc.name))
            except OSError:  # gone, or a zombie
                continue
        return found

    def lose_node(self, name: str) -> None:
        """A reclaimed spot node: its raylet and every worker on it killed at once (SIGKILL, no goodbye)."""
        for pid in self.processes(name):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def stop(self, timeout: float = 120) -> list[int]:
        """SIGTERM to each process group, the second node first; what is still alive after `timeout`."""
        for process in reversed(self.started):
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout
        while self.processes() and time.monotonic() < deadline:
            time.sleep(0.5)
        for process in self.started:
            process.poll()  # reap
        return self.processes()

    def kill(self) -> None:
        for pid in self.processes():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _listening(pids: list[int]) -> set[tuple[str, int]]:
    """(address, port) of every TCP socket that `pids` listen on, from /proc (no tools needed)."""
    listeners: dict[str, tuple[str, int]] = {}  # socket inode → address
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A":  # TCP_LISTEN
                address, port = fields[1].split(":")
                listeners[fields[9]] = (_ip(address), int(port, 16))
    found = set()
    for pid in pids:
        try:
            links = [os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()]
        except OSError:
            continue
        found |= {listeners[link[8:-1]] for link in links if link.startswith("socket:[") and link[8:-1] in listeners}
    return found


def _ip(hex_address: str) -> str:
    """/proc/net/tcp's address: 32-bit words in host (little-endian) order."""
    raw = bytes.fromhex(hex_address)
    address = ipaddress.ip_address(b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4)))
    mapped = getattr(address, "ipv4_mapped", None)
    return str(mapped or address)


@pytest.fixture
def cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LoopbackCluster]:
    """NODES, or the node names a test gives as this fixture's (indirect) parameter."""
    nodes = getattr(request, "param", NODES)
    cluster = LoopbackCluster(tmp_path, Path(tempfile.mkdtemp(prefix="swm", dir="/tmp")), nodes)
    try:
        yield cluster
    finally:
        cluster.kill()  # only if the test failed before its own clean stop
        shutil.rmtree(cluster.ray_tmp, ignore_errors=True)


def test_a_study_runs_on_two_nodes_and_logs_through_the_server(cluster: LoopbackCluster) -> None:
    cluster.start()
    cluster.wait_for_mlflow()
    node_names = cluster.node_names(expected=2)
    assert sorted(node_names.values()) == list(NODES)

    run = subprocess.Popen(
        [sys.executable, "-m", "sweeps", "run", STUDY, "offline=true", "trainer.epochs=1", "--questions", "q03",
         f"resources.address=127.0.0.1:{cluster.ray_port}", "resources.cpus_per_trial=1",
         f"tracking.uri={cluster.tracking_uri}", f"paths.storage={cluster.root / 'storage'}"],
        cwd=cluster.root, env=cluster.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    listening: set[tuple[str, int]] = set()
    while run.poll() is None:  # what the nodes, the trials' workers and the server listen on, while they run
        listening |= _listening(cluster.processes())
        time.sleep(0.5)
    output = run.communicate(timeout=60)[0]
    assert run.returncode == 0, output
    assert "3/3 trials finished, 0 failed" in output
    listening |= _listening(cluster.processes())
    assert ("127.0.0.1", cluster.mlflow_port) in listening
    assert ("127.0.0.1", cluster.ray_port) in listening
    assert {address for address, _ in listening} == {"127.0.0.1"}, listening

    client = MlflowClient(cluster.tracking_uri)
    experiment = client.get_experiment_by_name(STUDY)
    assert experiment.artifact_location.startswith("mlflow-artifacts:")  # artifacts travel through the server
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 3
    for run_ in runs:
        assert run_.info.status == "FINISHED"
        artifacts = {artifact.path for artifact in client.list_artifacts(run_.info.run_id)}
        assert {"config.yaml", "confusion_matrix.csv", "checkpoint", "machine.json"} <= artifacts
        stored = cluster.root / "artifacts" / experiment.experiment_id / run_.info.run_id / "artifacts" / "config.yaml"
        assert stored.is_file()  # in the server's --artifacts-destination
        trial_id = run_.data.tags["sweeps.trial_id"]
        assert (cluster.root / "storage" / STUDY / "checkpoints" / trial_id / "state.pt").is_file()
    assert {node_names[run_.data.tags["sweeps.node_id"]] for run_ in runs} == set(NODES)

    assert cluster.stop() == [], "processes the test started outlived SIGTERM"
