"""What the store holds after concurrent or interrupted runs: one run per trial id, every epoch logged once."""

from __future__ import annotations

from typing import Any

from mlflow.tracking import MlflowClient

EPOCH_KEYS = ("val_acc", "train_loss")  # logged once an epoch by every kind of trainable


def steps(uri: str, run_id: str, key: str) -> list[int]:
    """The steps (epochs) at which `key` was logged in the run, sorted, repeats kept."""
    return sorted(metric.step for metric in MlflowClient(uri).get_metric_history(run_id, key))


def each_trial_once(uri: str, study: str, trials: int, epochs: int) -> dict[str, Any]:
    """Exactly `trials` FINISHED runs of `study`, one per trial id, every epoch logged once; trial id → run."""
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name(study).experiment_id], max_results=1000)
    by_trial = {run.data.tags["sweeps.trial_id"]: run for run in runs}
    assert len(runs) == len(by_trial) == trials, (study, len(runs), len(by_trial))
    for run in runs:
        assert run.info.status == "FINISHED" and run.data.tags["sweeps.outcome"] == "finished", (study, run.data.tags)
        for key in EPOCH_KEYS:
            assert steps(uri, run.info.run_id, key) == list(range(1, epochs + 1)), (study, key, run.data.tags)
    return by_trial
