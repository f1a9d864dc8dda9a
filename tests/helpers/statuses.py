"""A study's trial statuses as the store holds them: what tests check after a run (the package reads whole
runs, `sweeps.record.store.read_trial_runs`)."""

from __future__ import annotations

from sweeps.record.store import read_trial_runs, status_of
from sweeps.trials import Status


def read_statuses(uri: str, study: str) -> dict[str, Status]:
    """Trial id → status of its run, reading only (a missing sqlite store is not created)."""
    return {trial_id: status_of(run) for trial_id, run in read_trial_runs(uri, study).items()}
