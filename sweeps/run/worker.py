"""What runs inside a Ray trial's worker: train its pack's trials, checkpointing each epoch before reporting it.

Workers never talk to MLflow: each member's epoch metrics travel to the driver through `tune.report`
(tagged with the member's trial id and its checkpoint folder), and the driver's recorder writes them. The checkpoint goes to
the member's folder in the shared storage first, so an epoch the driver has seen can always be resumed.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from ray import tune

from sweeps.plan.prefixes import continue_prefix
from sweeps.record.checkpoints import load_state, save_failure, save_state, save_weights
from sweeps.run.cores import raise_threads, read_share
from sweeps.run.payload import MemberPayload, PackPayload
from trainables.callback import Checkpoint, EpochReport, Report
from trainables.function.checked import TrainingFunctionError
from trainables.function.resolve import trainable_kind
from trainables.placement import Placement

MEMBER = "member"  # result key: the trial id of the pack member an epoch belongs to
DIVERGED = "diverged"  # result key: the epoch's training loss was not finite; the member trains no further
CHECKPOINT_DIR = "checkpoint_dir"  # result key: the member's checkpoint folder, for readers of Tune's results
STARTED_AT = "started_at"  # first result's key: ms since the epoch when the worker started training the member


def trial_main(params: Mapping[str, Any]) -> None:
    """One Ray trial, from its pack's payload (`sweeps.run.experiment.pack_payload`)."""
    import ray
    import torch

    from trainables.machine import machine_record

    pack: PackPayload = params["pack"]
    device = "cuda" if pack["gpu"] and torch.cuda.is_available() else "cpu"
    threads = max(pack["threads"], read_share(pack["share"]))  # a trial that starts in its experiment's tail
    placement = Placement(
        device, threads, channels_last=pack["channels_last"], capture=pack["capture"], gpu_share=pack["gpu_share"]
    )
    first: dict[str, Any] = {"machine": machine_record(), "node_id": ray.get_runtime_context().get_node_id()}
    members = pack["members"]
    starts = [_start(member) for member in members]
    resumes = [resume for resume, _ in starts]
    first[STARTED_AT] = int(time.time() * 1000)  # its run's start: its data and model are made from here on
    reports = [_reporter(member, first, pack["share"], *start) for member, start in zip(members, starts, strict=True)]
    trainable = trainable_kind(members[0]["config"]["trainable"])
    if len(members) == 1:
        try:
            trainable.train(members[0]["config"], pack["data_root"], reports[0], placement, resumes[0])
        except TrainingFunctionError as error:  # no retry can mend it: recorded once, as the trial's failure
            save_failure(members[0]["checkpoint_dir"], str(error))
    else:
        trainable.train_pack([m["config"] for m in members], pack["data_root"], reports, placement, resumes)


def _start(member: MemberPayload) -> tuple[Checkpoint | None, str | None]:
    """Where the member starts: its own last checkpoint — the last one of the trial it continues, copied in
    now if it never started (sweeps.plan.prefixes) — else a stage's starting weights, else None (a fresh
    start); and the id of the trial it continues when that checkpoint was copied in now."""
    shorter = member["continues"]
    continued_from = None
    if shorter is not None and continue_prefix(member["checkpoint_dir"], shorter["checkpoint_dir"], shorter["epochs"]):
        continued_from = shorter["id"]
    resume = load_state(member["checkpoint_dir"]) or (load_state(member["init"]) if member["init"] else None)
    return resume, continued_from


def _reporter(
    member: MemberPayload, first: Mapping[str, Any], share: str | None, resume: Checkpoint | None, continued_from: str | None
) -> Report:
    """The member's report callback: checkpoint, send the epoch to the driver, then take any cores its
    experiment has left idle (`share`, sweeps.run.cores; `continued_from`: `_start`'s)."""
    extra: dict[str, Any] = dict(first)  # the machine record, node and resume point: with the first result only
    if resume is not None and "history" in resume:
        extra["resumed_from_epoch"] = len(resume["history"])
        extra["history"] = resume["history"]  # the epochs it starts with, for the driver to fill in any its run lacks
    if continued_from is not None:
        extra["continued_from"] = continued_from
    epochs = member["config"]["trainer"]["epochs"]

    def on_epoch(report: EpochReport) -> None:
        state = report.checkpoint()
        save_state(member["checkpoint_dir"], state)
        final = not report.diverged and (report.confusion_matrix is not None or report.epoch == epochs)
        if (final or report.diverged) and "model" in state:  # its last epoch: the weights its run keeps (recorder.trial_artifacts)
            save_weights(member["checkpoint_dir"], state["model"])
        result: dict[str, Any] = {**report.metrics, "metric_names": sorted(report.metrics), "final": final, DIVERGED: report.diverged}
        if report.confusion_matrix is not None:
            result["confusion_matrix"] = report.confusion_matrix
        result.update(extra, **{MEMBER: member["id"], CHECKPOINT_DIR: member["checkpoint_dir"]})
        extra.clear()
        tune.report(result)
        raise_threads(share)

    return on_epoch
