"""Two Ray nodes on one machine and a real MLflow server: one `sweep run` through them, as on a cluster.

The head and a second node are separate `ray start --block` processes (own ports, token authentication as
cluster.yaml sets it up, custom resources node_a / node_b naming them); `sweep server` is the MLflow
server. The run names a course folder (--conf), which Ray ships to the nodes as the workers' working_dir.
Each node offers 1 CPU and each trial asks for 1, so of the three trials the first two start at
once, one per node, and on a cluster a trial keeps the node its resources were reserved on: both nodes
run trials, every time. Everything listens on 127.0.0.1 only, and at the end nothing the test started is
left running (found by the test's private RAY_TMPDIR in each process's environment).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from helpers.loopback import listening
from helpers.loopback_cluster import NODES, TOKEN_AUTH, LoopbackCluster
from mlflow.tracking import MlflowClient

pytestmark = pytest.mark.slow

STUDY = "jhu_fashion"
COURSE = Path(__file__).parent / "courses" / "cifar_tutorial"


def test_a_study_runs_on_two_nodes_and_logs_through_the_server(cluster: LoopbackCluster, tmp_path: Path) -> None:
    course = Path(shutil.copytree(COURSE, tmp_path / "course"))
    (course / "mycourse").mkdir()
    (course / "mycourse" / "__init__.py").write_text("WIDTH = 6  # a module of the course's own\n")
    cluster.start()
    cluster.wait_for_mlflow()
    node_names = cluster.node_names(expected=2)
    assert sorted(node_names.values()) == list(NODES)

    run = cluster.cli.popen(
        "run", "--conf", str(course), STUDY, "offline=true", "trainer.epochs=1", "--questions", "q03",
        f"resources.address=127.0.0.1:{cluster.ray_port}", "resources.cpus_per_trial=1",
        f"tracking.uri={cluster.tracking_uri}", f"paths.storage={cluster.root / 'storage'}", env=TOKEN_AUTH,
    )  # fmt: skip
    seen: set[tuple[str, int]] = set()
    while run.poll() is None:  # what the nodes, the trials' workers and the server listen on, while they run
        seen |= listening(cluster.cli.processes())
        time.sleep(0.5)
    output = run.communicate(timeout=60)[0]
    assert run.returncode == 0, output
    assert "3/3 trials finished, 0 failed" in output
    seen |= listening(cluster.cli.processes())
    assert ("127.0.0.1", cluster.mlflow_port) in seen
    assert ("127.0.0.1", cluster.ray_port) in seen
    assert {address for address, _ in seen} == {"127.0.0.1"}, seen

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
    # The course folder as Ray unpacked it for the workers (runtime_env working_dir), under our RAY_TMPDIR
    for relative in ("study/cifar_tutorial.yaml", "mycourse/__init__.py"):
        shipped = list(cluster.cli.ray_tmp.rglob(f"working_dir_files/*/{relative}"))
        assert shipped and all(path.read_text() == (course / relative).read_text() for path in shipped), relative

    assert cluster.stop() == [], "processes the test started outlived SIGTERM"
