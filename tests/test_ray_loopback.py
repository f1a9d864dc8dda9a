"""A Ray started for `sweep run` listens on 127.0.0.1 only (sweeps.process.keep_ray_on_loopback), and why
that takes Ray's single-machine switch: Ray's own `_node_ip_address="127.0.0.1"` is turned into the
machine's network address."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.sweep_cli import SweepCli

pytestmark = pytest.mark.slow

# Starts a local Ray as sweeps.run.experiment.start_ray does and prints the (address, port) pairs its
# processes listen on. argv[1]: "sweeps" (keep_ray_on_loopback first) or "ray" (Ray's _node_ip_address only).
LISTENS = """
import json, os, sys, time
from helpers.loopback import listening
if sys.argv[1] == "sweeps":
    from sweeps.process import keep_ray_on_loopback
    keep_ray_on_loopback(None)
import ray
options = {"_node_ip_address": "127.0.0.1"} if sys.argv[1] == "ray" else {}
ray.init(num_cpus=1, include_dashboard=False, logging_level="ERROR", log_to_driver=False, **options)
ray.get(ray.remote(lambda: 1).remote())  # a worker up, listening too
children = {}
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        children.setdefault(int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1]), []).append(int(pid))
    except OSError:
        pass
ours, todo = [], [os.getpid()]
while todo:
    ours.append(todo.pop())
    todo += children.get(ours[-1], [])
print(json.dumps(sorted({address for address, _ in listening(ours)})))
ray.shutdown()
"""


def _addresses(sweep: SweepCli, how: str) -> list[str]:
    tests = Path(__file__).parent  # helpers.loopback
    env = {**sweep.env, "PYTHONPATH": os.pathsep.join(filter(None, [sweep.env.get("PYTHONPATH"), str(tests)]))}
    done = subprocess.run([sys.executable, "-c", LISTENS, how], env=env, cwd=sweep.workdir, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.splitlines()[-1])


def test_a_ray_started_for_a_run_listens_on_loopback_only(sweep: SweepCli) -> None:
    assert _addresses(sweep, "sweeps") == ["127.0.0.1"]


def test_rays_node_ip_option_alone_does_not_keep_it_on_loopback(sweep: SweepCli) -> None:
    """Should a Ray honour `_node_ip_address="127.0.0.1"`, keep_ray_on_loopback can switch to it."""
    assert _addresses(sweep, "ray") != ["127.0.0.1"]
