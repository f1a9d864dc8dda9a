"""What the driver hands each Ray trial's worker, and reads back in its recorder: a pack's payload.

The driver builds it (`sweeps.run.experiment.pack_payload`), Ray Tune carries it in the trial's config
under "pack" (pickled with the param space: a TypedDict is a plain dict), the worker trains from it
(`sweeps.run.worker`) and the recorder reads its members back (`sweeps.run.recorder`).
"""

from __future__ import annotations

from typing import Any, TypedDict

from sweeps.plan.prefixes import Continues


class PlannedFields(TypedDict):
    """The fields of a member's `sweeps.trials.PlannedTrial` besides its id and config (a search's sample
    is known to the driver's recorder only from its payload)."""

    name: str
    parameters: int
    group: str
    questions: list[str]


class MemberPayload(TypedDict):
    """One trial of a pack."""

    id: str
    config: dict[str, Any]  # the trial config as JSON data (PlannedTrial.config)
    planned: PlannedFields
    checkpoint_dir: str  # the trial's folder in the shared storage
    init: str | None  # a stage's starting weights: a folder in the shared storage (sweeps.run.stages.stage_weights)
    continues: Continues | None  # the shorter trial whose last checkpoint it starts from (sweeps.plan.prefixes)
    parent_run: str | None  # the MLflow run of the search this trial is a sample of


class PackPayload(TypedDict):
    """One Ray trial: where it computes, and its member trials (most often one)."""

    id: str  # the pack's id (sweeps.plan.packs.pack_id): the Ray trial's name and folder
    members: list[MemberPayload]
    data_root: str
    threads: int  # torch threads: the Ray trial's CPUs
    share: str | None  # the file of the threads it may raise them to once cores idle (sweeps.run.cores)
    gpu: bool
    gpu_share: float  # the fraction of a GPU the Ray trial holds (1.0 without GPUs)
    channels_last: bool
    capture: bool
