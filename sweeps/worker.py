"""What runs inside a trial's Ray worker: train the trial, checkpointing every epoch before reporting it.

Workers never talk to MLflow: each epoch's metrics travel to the driver through `tune.report`, and the
driver's recorder writes them. The checkpoint goes to the trial's folder in the shared storage first,
so an epoch the driver has seen can always be resumed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ray import tune

from sweeps.checkpoints import load_state, save_state
from trainables.callback import EpochReport, Placement
from trainables.kinds import kind


def trial_main(params: Mapping[str, Any]) -> None:
    """One trial, from its payload (`sweeps.experiment.payload`)."""
    import ray
    import torch

    from trainables.machine import machine_record

    payload = params["trial"]
    folder = payload["checkpoint_dir"]
    resume = load_state(folder) or (load_state(payload["init"]) if payload["init"] else None)
    extra: dict[str, Any] = {"machine": machine_record(), "node_id": ray.get_runtime_context().get_node_id()}
    if resume is not None and "history" in resume:
        extra["resumed_from_epoch"] = len(resume["history"])
    device = "cuda" if payload["gpu"] and torch.cuda.is_available() else "cpu"

    def on_epoch(report: EpochReport) -> None:
        save_state(folder, report.checkpoint())
        final = report.confusion_matrix is not None or report.epoch == payload["config"]["trainer"]["epochs"]
        result: dict[str, Any] = {**report.metrics, "metric_names": sorted(report.metrics), "final": final}
        if report.confusion_matrix is not None:
            result["confusion_matrix"] = report.confusion_matrix
        result.update(extra)
        extra.clear()  # the machine record, node and resume point travel with the first result only
        tune.report(result)

    placement = Placement(device=device, threads=payload["threads"], channels_last=payload["channels_last"])
    kind(payload["config"]["trainable"]).train(payload["config"], payload["data_root"], on_epoch, placement, resume)
