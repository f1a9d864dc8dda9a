"""Trials that no node can place: a warning when `sweep run` joins a cluster, and a clean stop once every
trial of the study has waited `resources.pending_timeout` seconds for its CPUs and GPUs.

A Ray started for the run is checked before it starts (`sweeps.run.preflight.check_local_resources`). A cluster
can grow (its autoscaler adds nodes while trials wait), so there a trial larger than every node is a
warning, and the wait is bounded instead of endless.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from ray import tune

from sweeps.config.schema import ResourcesConfig
from sweeps.errors import StudyStopped
from sweeps.trials import Plan

if TYPE_CHECKING:
    from ray.tune.experiment import Trial


class PendingTimeout(StudyStopped):
    """No trial of the study could be placed within `resources.pending_timeout` seconds."""


@dataclass(frozen=True)
class Node:
    address: str
    cpus: float
    gpus: float


def live_nodes() -> list[Node]:
    """The cluster's live nodes, as Ray lists them (the driver is connected)."""
    import ray

    return [
        Node(node["NodeManagerAddress"], node["Resources"].get("CPU", 0.0), node["Resources"].get("GPU", 0.0))
        for node in ray.nodes()
        if node.get("Alive")
    ]


def largest(nodes: list[Node]) -> str:
    """The node with the most CPUs (then GPUs), in words."""
    if not nodes:
        return "the cluster has no live node"
    node = max(nodes, key=lambda node: (node.cpus, node.gpus))
    return f"its largest node, {node.address}, has {node.cpus:g} CPUs and {node.gpus:g} GPUs"


def fits(resources: ResourcesConfig, nodes: list[Node]) -> bool:
    return any(node.cpus >= resources.cpus_per_trial and node.gpus >= resources.gpus_per_trial for node in nodes)


def _asks(resources: ResourcesConfig) -> str:
    return f"{resources.cpus_per_trial:g} CPUs and {resources.gpus_per_trial:g} GPUs per trial"


def warn_if_no_node_fits(plan: Plan, err: TextIO) -> None:
    """On a cluster, one warning line when no node has the CPUs and GPUs one trial asks for."""
    resources = plan.runtime.resources
    if resources.address is None:
        return
    nodes = live_nodes()
    if not fits(resources, nodes):
        print(
            f"sweep: warning: resources: no node of the cluster at {resources.address} has {_asks(resources)} "
            f"({largest(nodes)}); the trials wait for such a node to join, and the run stops after "
            f"resources.pending_timeout={resources.pending_timeout:g} s if none does",
            file=err,
            flush=True,
        )


class PendingWatch(tune.Callback):
    """Stops the experiment (`PendingTimeout`) when trials have waited to be placed, with none of the study's
    running, for `resources.pending_timeout` seconds. Tune then stops its trials; each keeps its checkpoint."""

    def __init__(self, resources: ResourcesConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self._resources = resources
        self._clock = clock
        self._waiting_since: float | None = None  # when every trial was first seen waiting, none running

    def on_step_end(self, iteration: int, trials: list[Trial], **info: Any) -> None:
        statuses = {trial.status for trial in trials}
        if "RUNNING" in statuses or "PENDING" not in statuses:
            self._waiting_since = None
            return
        now = self._clock()
        if self._waiting_since is None:
            self._waiting_since = now
        elif now - self._waiting_since > self._resources.pending_timeout:
            raise PendingTimeout(
                f"resources: no trial could start in resources.pending_timeout={self._resources.pending_timeout:g} s; "
                f"they ask for {_asks(self._resources)} and {largest(live_nodes())}. The study stopped and its runs "
                "are marked KILLED: lower resources.cpus_per_trial or resources.gpus_per_trial, or add a larger node, "
                "then run the same command again"
            )
