"""Leases (sweeps.run.leases): one driver holds a unit; a live holder keeps it; a dead one's is taken over.

Every case runs on both backends: a local folder (flock) and an object store (claim objects and a
listing), the latter through pyarrow's `file://` filesystem, which is what an `s3://` storage goes through.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from sweeps.run.leases import Leases, Owner, process_start

STUDY = "study"


@pytest.fixture(params=["folder", "object-store"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return str(tmp_path) if request.param == "folder" else f"file://{tmp_path}"


def _elsewhere(leases: Leases) -> Leases:
    """The same driver as seen from another machine: its liveness is its heartbeat, not its pid."""
    leases.owner = dataclasses.replace(leases.owner, machine="another-machine", host="elsewhere")
    return leases


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # reaped: the pid names no process now
    return child.pid


def test_a_live_holder_keeps_its_lease_and_is_named(storage: str) -> None:
    first, second = Leases(storage, STUDY), Leases(storage, STUDY)
    try:
        assert first.claim("t1") is None
        assert first.claim("t1") is None  # claiming again what it holds
        holder = second.claim("t1")
        assert holder is not None and holder.token == first.owner.token
        assert holder.describe().endswith(f"pid {first.owner.pid}")
        assert second.claim("t2") is None  # other units are free
    finally:
        first.close()
        second.close()


def test_a_released_lease_is_free(storage: str) -> None:
    first, second = Leases(storage, STUDY), Leases(storage, STUDY)
    try:
        assert first.claim("t1") is None
        first.release("t1")
        assert second.claim("t1") is None
        assert first.claim("t1") is not None
    finally:
        first.close()
        second.close()


def test_a_dead_process_on_this_machine_loses_its_lease_at_once(storage: str) -> None:
    dead = Leases(storage, STUDY)
    dead.owner = dataclasses.replace(dead.owner, pid=_dead_pid())
    assert dead.claim("t1") is None  # its heartbeat is fresh: only the pid tells that it died
    taker = Leases(storage, STUDY)
    try:
        assert taker.claim("t1") is None
    finally:
        dead.close()
        taker.close()


def test_a_reused_pid_is_not_the_owner(storage: str) -> None:
    earlier = Leases(storage, STUDY)
    earlier.owner = dataclasses.replace(earlier.owner, started="1")  # this pid, but another process's start
    assert earlier.claim("t1") is None
    taker = Leases(storage, STUDY)
    try:
        assert taker.claim("t1") is None
    finally:
        earlier.close()
        taker.close()


def test_another_machines_holder_lives_by_its_heartbeat(storage: str) -> None:
    remote = _elsewhere(Leases(storage, STUDY, heartbeat_s=3600))  # beats once, when it first claims
    assert remote.claim("t1") is None
    fresh = Leases(storage, STUDY, stale_after_s=60)
    stale = Leases(storage, STUDY, stale_after_s=0.2)
    try:
        assert fresh.claim("t1") is not None  # heartbeat younger than 60 s: alive, whatever its pid
        time.sleep(0.3)
        assert stale.claim("t1") is None  # heartbeat older than 0.2 s: dead, taken over
        assert fresh.claim("t1") is not None  # now held by `stale`'s driver
    finally:
        for leases in (remote, fresh, stale):
            leases.close()


def test_a_paused_driver_finds_the_leases_it_lost(storage: str) -> None:
    paused = _elsewhere(Leases(storage, STUDY, stale_after_s=0.2, heartbeat_s=3600))
    assert paused.claim("t1") is None and paused.claim("t2") is None
    time.sleep(0.3)  # longer than its heartbeat may lapse
    taker = Leases(storage, STUDY, stale_after_s=0.2)
    try:
        assert taker.claim("t1") is None
        paused._beat()  # its next heartbeat, after the pause
        assert paused.lost == {"t1"}  # t2 nobody took: still its own
        assert taker.claim("t2") is not None
    finally:
        paused.close()
        taker.close()


def test_concurrent_claims_give_each_unit_at_most_one_holder(storage: str) -> None:
    drivers = [Leases(storage, STUDY) for _ in range(3)]
    won: dict[str, list[str]] = {f"t{i}": [] for i in range(20)}

    def claim_all(leases: Leases) -> None:
        for unit in won:
            if leases.claim(unit) is None:
                won[unit].append(leases.owner.token)

    threads = [threading.Thread(target=claim_all, args=(leases,)) for leases in drivers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert all(len(holders) <= 1 for holders in won.values()), won
        if not storage.startswith("file://"):  # a lock never leaves a unit unclaimed; ties on an object store may
            assert all(len(holders) == 1 for holders in won.values()), won
        else:
            assert sum(len(holders) for holders in won.values()) >= len(won) // 2
    finally:
        for leases in drivers:
            leases.close()


def test_close_releases_everything_and_the_heartbeat(tmp_path: Path) -> None:
    leases = Leases(str(tmp_path), STUDY)
    assert leases.claim("t1") is None and leases.claim("search-q13") is None
    folder = tmp_path / STUDY / "leases"
    assert json.loads((folder / "t1.json").read_text())["pid"] == leases.owner.pid
    leases.close()
    assert sorted(path.name for path in folder.iterdir() if not path.name.startswith(".")) == ["drivers"]
    assert list((folder / "drivers").iterdir()) == []


def test_process_start_tells_live_from_dead() -> None:
    import os

    assert process_start(os.getpid())
    assert process_start(_dead_pid()) is None
    assert isinstance(Owner("t", "h", "m", 1, "").describe(), str)


def test_who_holds_a_unit_is_read_without_claiming_it(storage: str) -> None:
    first, second = Leases(storage, STUDY), Leases(storage, STUDY)
    try:
        assert second.held_elsewhere("search-q13") is None
        assert first.claim("search-q13") is None
        assert first.held_elsewhere("search-q13") is None  # its own
        holder = second.held_elsewhere("search-q13")
        assert holder is not None and holder.token == first.owner.token
        assert first.held_elsewhere("t9") is None and second.claim("t9") is None  # a free unit stays free when read
    finally:
        first.close()
        second.close()
