"""One Ray Tune experiment of a plan's trials: starting Ray, what each Ray trial's worker gets, the Tuner.

A grid of known trials and a search's samples run the same way: each Ray trial runs
`sweeps.run.worker.trial_main` on a pack of trials (most often a pack of one), and the driver's recorder
writes each member's MLflow run.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections import deque
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

from ray import tune
from ray.tune.error import TuneError
from ray.tune.search import Searcher

from sweeps.config.schema import ResourcesConfig
from sweeps.errors import StudyStopped, SweepError, found_in
from sweeps.plan.packs import grid_packs, pack_id
from sweeps.plan.prefixes import Continues, continues, prefixes
from sweeps.record.checkpoints import checkpoint_dir, join
from sweeps.run.cores import CoreShare, core_share
from sweeps.run.payload import MemberPayload, PackPayload
from sweeps.run.pending import PendingWatch
from sweeps.run.recorder import Recorder
from sweeps.run.worker import trial_main
from sweeps.trials import Plan, PlannedTrial


def start_ray(plan: Plan) -> bool:
    """Start (or join) the Ray the plan's resources name; False if this process already had one."""
    import ray

    if ray.is_initialized():
        return False
    resources = plan.runtime.resources
    if resources.address:
        try:
            ray.init(address=resources.address, runtime_env=runtime_env(plan), logging_level=logging.ERROR, log_to_driver=False)
        except ConnectionError as error:  # `auto` and no cluster here (HOST:PORT is checked before: preflight)
            first = str(error).strip().splitlines()[0]
            remedy = "Start one (ray start --head), or run without resources=cluster"
            raise SweepError(f"resources.address={resources.address}: {first} {remedy}") from None
    else:
        ray.init(
            num_cpus=resources.num_cpus,
            runtime_env=runtime_env(plan),
            include_dashboard=False,
            logging_level=logging.ERROR,
            log_to_driver=False,
        )
    return True


# What `sweep` writes when started in the course folder: none of it is the course's, none goes to the nodes.
_NOT_SHIPPED = (".git", "__pycache__", "*.db", "mlartifacts", "mlruns", "sweeps_storage", "reports")


def runtime_env(plan: Plan) -> dict[str, Any] | None:
    """Ray's runtime_env for the course folder: every trial worker imports the course's Python modules as the
    driver does (`Configs.open_course`), the folder first on its PYTHONPATH. On a cluster the folder is
    every worker's working_dir, which Ray ships to each node and puts first on the PYTHONPATH; on this
    machine's own Ray the workers read the folder in place (nothing copied: data kept in it costs no
    upload, and a module edited since is what the next run trains). None without a course folder."""
    course = plan.configs.course
    if course is None:
        return None
    if plan.runtime.resources.address:
        return {"working_dir": str(course), "excludes": list(_NOT_SHIPPED)}
    # A local Ray's workers inherit this process's environment: its PYTHONPATH stays, after the course.
    inherited = [os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else []
    return {"env_vars": {"PYTHONPATH": os.pathsep.join([str(course), *inherited])}}


def fit(
    plan: Plan,
    recorder: Recorder,
    param_space: dict[str, Any],
    options: dict[str, Any],
    cpus_per_trial: float | None = None,
    share: CoreShare | None = None,
) -> None:
    """One Ray Tune experiment: a grid of known trials, or a search's samples (`options`: its searcher).
    `cpus_per_trial`: what each Ray trial asks for (a grid's `Grid.cpus_per_trial`); else resources'.
    `share`: the experiment's idle-core share its payloads name (removed when it ends)."""
    resources = plan.runtime.resources
    cpus = resources.cpus_per_trial if cpus_per_trial is None else cpus_per_trial
    trainable = tune.with_resources(trial_main, {"cpu": cpus, "gpu": resources.gpus_per_trial})
    tuner = tune.Tuner(
        trainable,
        param_space=param_space,
        tune_config=tune.TuneConfig(
            # Local: ~0.1 s to start a trial instead of ~1 s. On a cluster a reused actor could take over a
            # trial whose own actor is already starting on another node, so there each trial keeps the
            # node its resources were reserved on.
            reuse_actors=resources.address is None,
            trial_name_creator=lambda trial: trial.config["pack"]["id"],
            trial_dirname_creator=lambda trial: trial.config["pack"]["id"],
            **options,
        ),
        run_config=tune.RunConfig(
            name=f"{plan.study}-{time.strftime('%Y%m%d-%H%M%S')}",
            storage_path=join(plan.runtime.paths.storage, plan.study, "ray"),
            callbacks=[recorder, PendingWatch(resources), *([share] if share else [])],  # PendingWatch: trials never placed stop it
            stop=recorder.stopper(),
            # A worker that dies (killed, out of memory, its node lost) is started again, on any node, and
            # resumes from its last checkpoint in the shared storage.
            failure_config=tune.FailureConfig(max_failures=resources.max_failures),
            verbose=0,
        ),
    )
    try:
        tuner.fit()
    except TuneError as error:  # Tune wraps what a callback raises; a clean stop goes on as itself
        stopped = found_in(error, StudyStopped)
        if stopped is None:
            raise
        raise stopped from None
    finally:
        if share is not None:
            share.close()


class KnownPacks(Searcher):
    """A grid's Ray trials as Ray Tune's search algorithm: each pack's payload suggested once, in order.
    (Tune's `grid_search` deep-copies the whole grid for every Ray trial it makes: quadratic in the packs,
    most of the driver's time at 10,000 trials.)"""

    def __init__(self, payloads: list[PackPayload]) -> None:
        super().__init__()
        self._left = deque(payloads)

    def suggest(self, trial_id: str) -> dict[str, Any] | str:  # type: ignore[override]  # Ray's hint omits the FINISHED it documents
        return {"pack": self._left.popleft()} if self._left else Searcher.FINISHED

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
        """Nothing to learn: every pack is known up front."""


class Grid(NamedTuple):
    options: dict[str, Any]  # Tune's options: one pack payload per Ray trial (KnownPacks)
    cpus_per_trial: float  # what each of its Ray trials asks for, and its torch threads
    share: CoreShare | None  # the idle cores its last trials take (sweeps.run.cores)


def grid(plan: Plan, trials: list[PlannedTrial], init: str | None) -> Grid:
    """The Tune options that run exactly `trials`, each once, in packs; `init`: a stage's starting weights."""
    continued = prefixes(plan.trials)
    packs = grid_packs(plan, trials)
    cpus = phase_cpus(plan.runtime.resources, len(packs))
    share = core_share(plan.runtime.resources, cpus, len(packs), None)
    payloads = [pack_payload(plan, pack.members, init, continued=continued, cpus=cpus, share=share) for pack in packs]
    return Grid({"search_alg": KnownPacks(payloads), "num_samples": len(payloads)}, cpus, share)


def phase_cpus(resources: ResourcesConfig, ray_trials: int) -> float:
    """CPUs per Ray trial of a grid: `resources.cpus_per_trial`, or, on the local Ray without GPUs, an
    equal share of its CPUs when the grid has fewer trials than CPUs for them (a lone fine-tuning stage
    trains on every core, not on one while the others idle). Never more threads than cores: a trial's
    threads are its CPUs, and oversubscribed threads ran 6–20× slower."""
    if not resources.local_cpu_only:
        return resources.cpus_per_trial
    cpus = resources.local_cpus
    return max(resources.cpus_per_trial, float(cpus // max(1, ray_trials)))


def pack_payload(
    plan: Plan,
    members: tuple[PlannedTrial, ...],
    init: str | None = None,
    parent_run: str | None = None,
    continued: Mapping[str, PlannedTrial] = MappingProxyType({}),
    cpus: float | None = None,
    share: CoreShare | None = None,
) -> PackPayload:
    """What a Ray trial's worker gets: where it computes, and each member trial's payload (`continued`:
    trial id → the shorter trial it continues, `sweeps.plan.prefixes.prefixes`; `cpus`: the Ray trial's CPUs,
    if not resources.cpus_per_trial; `share`: its experiment's idle-core share)."""
    resources = plan.runtime.resources
    return {
        "id": pack_id([member.id for member in members]),
        "members": [_member(plan, member, init, parent_run, continues(plan, member, continued)) for member in members],
        "data_root": plan.runtime.paths.data_root,
        "threads": max(1, math.floor(resources.cpus_per_trial if cpus is None else cpus)),
        "share": None if share is None else str(share.path),
        "gpu": resources.gpus_per_trial > 0,
        "gpu_share": min(1.0, resources.gpus_per_trial) or 1.0,
        "channels_last": resources.channels_last,
        "capture": resources.capture,
    }


def _member(
    plan: Plan, trial: PlannedTrial, init: str | None, parent_run: str | None, continued: Continues | None
) -> MemberPayload:
    """One trial of a pack (what the driver's recorder also reads back about it)."""
    return {
        "id": trial.id,
        "config": trial.config,
        "planned": {"name": trial.name, "parameters": trial.parameters, "group": trial.group, "questions": trial.questions},
        "checkpoint_dir": checkpoint_dir(plan.runtime.paths.storage, plan.study, trial.id),
        "init": init,
        "continues": continued,
        "parent_run": parent_run,
    }
