"""What a run on a cluster takes: checkpoints under a storage URI every node reaches, and the address."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from pydantic import ValidationError

from sweeps.config.schema import PathsConfig, ResourcesConfig
from sweeps.plan.build import plan_study
from sweeps.record.checkpoints import PREVIOUS, STATE, checkpoint_dir, load_state, save_state


@pytest.mark.parametrize("scheme", ["", "file://"], ids=["path", "uri"])
def test_the_latest_state_is_read_back_and_no_partial_file_is_left(tmp_path: Path, scheme: str) -> None:
    folder = checkpoint_dir(f"{scheme}{tmp_path}/storage", "study", "abc123")
    assert load_state(folder) is None
    save_state(folder, {"history": [1], "weights": torch.ones(2)})
    save_state(folder, {"history": [1, 2], "weights": torch.zeros(2)})
    state = load_state(folder)
    assert state is not None and state["history"] == [1, 2] and torch.equal(state["weights"], torch.zeros(2))
    written = tmp_path / "storage" / "study" / "checkpoints" / "abc123"
    assert sorted(path.name for path in written.iterdir()) == [PREVIOUS, STATE]  # the epoch before is kept


def test_storage_may_be_a_uri_but_the_data_must_be_local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    plan = plan_study("jhu_fashion", ["paths.storage=s3://bucket/sweeps", "paths.data_root=data"], ["q03"])
    assert plan.runtime.paths.storage == "s3://bucket/sweeps"
    assert plan.runtime.paths.data_root == str(tmp_path / "data")
    with pytest.raises(ValidationError, match="must be a local folder"):
        PathsConfig(data_root="s3://bucket/data", storage="storage")


@pytest.mark.parametrize("address", [None, "auto", "10.0.0.5:6379", "head.internal:6379"])
def test_cluster_addresses(address: str | None) -> None:
    assert ResourcesConfig(address=address).address == address


@pytest.mark.parametrize(("address", "message"), [("ray://head:10001", "Ray Client is not supported"), ("head", "auto or HOST:PORT")])
def test_other_addresses_are_refused_with_the_reason(address: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ResourcesConfig(address=address)
