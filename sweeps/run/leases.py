"""Leases: one `sweep run` at a time trains a trial (or runs a search), across every driver of a study.

Two `sweep run` of one study (two terminals, two Ray jobs, a retry while the first is alive) share the
study's checkpoints in `paths.storage`, so the leases live there too: `<storage>/<study>/leases/`. A
driver claims a unit (a trial id, or `search-q13`) before it opens its run; another driver skips a unit
whose lease is live and takes over one whose owner is dead:

- the owner is on the same machine (same boot, same pid namespace): live while its process runs (pid and
  the kernel's start time of that process, so a reused pid is not mistaken for it);
- the owner is elsewhere: live while its heartbeat, one record per driver (`drivers/<token>.json`,
  rewritten every HEARTBEAT_S seconds whatever the number of leases it holds), is younger than STALE_AFTER_S.
  Hosts' clocks must agree to well within that (NTP).

"Taken atomically" per backend:

- A local folder (or an NFS mount): one lease file per unit, read, judged and written under an exclusive
  `flock` on `leases/.lock`, held for milliseconds; the kernel (NFS: its lock manager) drops the lock of
  a holder that dies.
- An object store (`s3://…`, `gs://…`, through pyarrow, which offers no conditional write): each
  contender writes its own claim object `<unit>/<token>.json`, then lists the unit's claims (S3 and GCS
  list with read-after-write consistency). It holds the lease when its claim is the only live one; a
  confirmed live claim of another driver means skip; unconfirmed rivals mean a tie, and every party
  withdraws and tries again after a random pause. Each writes before it lists, so two contenders never
  both find themselves alone.

A driver that was paused longer than STALE_AFTER_S (a suspended laptop) may have lost leases to another
host's driver: its next heartbeat checks each lease it holds and lists the lost ones in `lost`.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

from pyarrow import fs

from sweeps.config.locations import is_uri
from sweeps.record.checkpoints import join, resolve

HEARTBEAT_S = 10.0  # seconds between a driver's heartbeats
STALE_AFTER_S = 60.0  # a heartbeat older than this: its driver is dead (or was paused that long)
TIE_ROUNDS = 5  # object stores: rounds of withdraw-and-retry before a contended unit is left to the rival


@dataclass(frozen=True)
class Owner:
    """The driver process that holds a lease."""

    token: str  # random, one per driver
    host: str  # the hostname, for people
    machine: str  # boot id and pid namespace: an owner with the same one is checked by its pid
    pid: int
    started: str  # the process's start time as the kernel counts it ("" where unknown)

    def describe(self) -> str:
        return f"{self.host}, pid {self.pid}"


def this_process() -> Owner:
    pid = os.getpid()
    return Owner(uuid.uuid4().hex, socket.gethostname(), _machine(), pid, process_start(pid) or "")


class _Backend(Protocol):
    def claim(self, unit: str, owner: Owner, alive: Callable[[Owner], bool]) -> Owner | None: ...
    def release(self, unit: str, owner: Owner) -> None: ...
    def holder(self, unit: str) -> Owner | None: ...
    def beat(self, owner: Owner, now: float) -> None: ...
    def heartbeat(self, token: str) -> float | None: ...
    def forget(self, owner: Owner) -> None: ...


class Leases:
    """The leases this driver holds on one study's units, and its heartbeat thread."""

    def __init__(self, storage: str, study: str, stale_after_s: float = STALE_AFTER_S, heartbeat_s: float = HEARTBEAT_S) -> None:
        self._folder = join(storage, study, "leases")
        self.owner = this_process()
        self._stale_after_s = stale_after_s
        self._heartbeat_s = heartbeat_s
        self._held: set[str] = set()
        self.lost: set[str] = set()  # units another driver took over while this one was paused
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_beat = 0.0

    @functools.cached_property
    def _backend(self) -> _Backend:
        """Made when first used: a `sweep run` that runs nothing writes no lease folder."""
        return _ObjectStore(self._folder) if is_uri(self._folder) else _LocalFolder(Path(self._folder))

    def __getstate__(self) -> dict[str, object]:
        """Tune pickles its callbacks (the recorder holds these leases) with an experiment's state, for a
        restore that `sweep run` never does: the copy leaves the heartbeat thread behind."""
        return {**self.__dict__, "_stop": None, "_thread": None}

    def claim(self, unit: str) -> Owner | None:
        """Take `unit`'s lease: None if it is this driver's now, else the live driver that holds it."""
        if unit in self._held:
            return None
        if self._thread is None:  # the heartbeat exists before any lease refers to it
            self._beat()
            self._thread = threading.Thread(target=self._beat_loop, name="sweeps-lease-heartbeat", daemon=True)
            self._thread.start()
        holder = self._backend.claim(unit, self.owner, self.alive)
        if holder is None:
            self._held.add(unit)
            self.lost.discard(unit)
        return holder

    def held_elsewhere(self, unit: str) -> Owner | None:
        """The live driver other than this one that holds `unit`, if any (reading only: nothing is claimed)."""
        holder = self._backend.holder(unit)
        return holder if holder is not None and holder.token != self.owner.token and self.alive(holder) else None

    def release(self, unit: str) -> None:
        if unit in self._held:
            self._held.discard(unit)
            self._backend.release(unit, self.owner)

    def close(self) -> None:
        """Release every lease and stop the heartbeat."""
        for unit in list(self._held):
            self.release(unit)
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._backend.forget(self.owner)

    def alive(self, owner: Owner) -> bool:
        if owner.token == self.owner.token:
            return True
        if owner.machine == self.owner.machine:
            return process_start(owner.pid) == owner.started
        beat = self._backend.heartbeat(owner.token)
        return beat is not None and time.time() - beat < self._stale_after_s

    def _beat(self) -> None:
        now = time.time()
        if self._last_beat and now - self._last_beat > self._stale_after_s:  # paused: others may have taken over
            for unit in list(self._held):
                holder = self._backend.holder(unit)
                if holder is None or holder.token != self.owner.token:
                    self._held.discard(unit)
                    self.lost.add(unit)
        self._backend.beat(self.owner, now)
        self._last_beat = now

    def _beat_loop(self) -> None:
        while not self._stop.wait(self._heartbeat_s):
            try:
                self._beat()
            except OSError:  # the storage did not answer this once: the next beat tries again, well within the limit
                continue


# --- a local folder: one file per unit, every change under an exclusive flock ------------------------
class _LocalFolder:
    def __init__(self, folder: Path) -> None:
        self._folder = folder
        (folder / "drivers").mkdir(parents=True, exist_ok=True)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self._folder / ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released on close, or by the kernel if this process dies
            yield

    def _path(self, unit: str) -> Path:
        return self._folder / f"{unit}.json"

    def claim(self, unit: str, owner: Owner, alive: Callable[[Owner], bool]) -> Owner | None:
        with self._locked():
            holder = self.holder(unit)
            if holder is not None and holder.token != owner.token and alive(holder):
                return holder
            _write_atomically(self._path(unit), _dumps(owner))
            return None

    def release(self, unit: str, owner: Owner) -> None:
        with self._locked():
            holder = self.holder(unit)
            if holder is not None and holder.token == owner.token:
                self._path(unit).unlink()

    def holder(self, unit: str) -> Owner | None:
        try:
            return _owner(self._path(unit).read_bytes())
        except FileNotFoundError:
            return None

    def beat(self, owner: Owner, now: float) -> None:
        _write_atomically(self._folder / "drivers" / f"{owner.token}.json", json.dumps({"heartbeat": now}).encode())

    def heartbeat(self, token: str) -> float | None:
        try:
            return float(json.loads((self._folder / "drivers" / f"{token}.json").read_bytes())["heartbeat"])
        except FileNotFoundError:
            return None

    def forget(self, owner: Owner) -> None:
        (self._folder / "drivers" / f"{owner.token}.json").unlink(missing_ok=True)


def _write_atomically(path: Path, data: bytes) -> None:
    """Readers see the old record or the new one, never a part (a file written beside it, then renamed)."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.write_bytes(data)
    os.replace(partial, path)


# --- an object store: one claim object per contender, read back by listing ------------------------------
class _ObjectStore:
    def __init__(self, folder: str) -> None:
        self._fs, self._folder = resolve(folder)
        self._fs.create_dir(join(self._folder, "drivers"), recursive=True)  # object stores have no folders: a no-op

    def _claim_path(self, unit: str, token: str) -> str:
        return join(self._folder, unit, f"{token}.json")

    def _claims(self, unit: str) -> list[tuple[Owner, bool]]:
        """Every claim on `unit`: its owner and whether that owner confirmed it."""
        found = self._fs.get_file_info(fs.FileSelector(join(self._folder, unit), allow_not_found=True))
        claims = []
        for info in found:
            if not info.path.endswith(".json"):  # a claim being written
                continue
            data = _read(self._fs, info.path)
            if data is not None:  # withdrawn between the listing and the read
                claims.append((_owner(data), bool(json.loads(data).get("confirmed"))))
        return claims

    def _write(self, path: str, data: bytes) -> None:
        """Whole or not at all: a PUT is, but a `file://` store writes in place, so a moved temporary."""
        partial = f"{path}.partial"
        with self._fs.open_output_stream(partial) as stream:
            stream.write(data)
        self._fs.move(partial, path)

    def claim(self, unit: str, owner: Owner, alive: Callable[[Owner], bool]) -> Owner | None:
        mine = self._claim_path(unit, owner.token)
        self._fs.create_dir(join(self._folder, unit), recursive=True)
        rivals: list[Owner] = []
        for attempt in range(TIE_ROUNDS):
            self._write(mine, _dumps(owner, confirmed=False))
            rivals, confirmed = [], []
            for other, is_confirmed in self._claims(unit):
                if other.token == owner.token:
                    continue
                if not alive(other):
                    _delete(self._fs, self._claim_path(unit, other.token))  # a dead driver's: taken over
                    continue
                rivals.append(other)
                if is_confirmed:
                    confirmed.append(other)
            if not rivals:
                self._write(mine, _dumps(owner, confirmed=True))
                return None
            _delete(self._fs, mine)
            if confirmed:
                return confirmed[0]
            time.sleep(random.uniform(0.05, 0.5) * (attempt + 1))  # a tie: both withdrew; retry apart
        return rivals[0]

    def release(self, unit: str, owner: Owner) -> None:
        _delete(self._fs, self._claim_path(unit, owner.token))

    def holder(self, unit: str) -> Owner | None:
        return next((other for other, confirmed in self._claims(unit) if confirmed), None)

    def beat(self, owner: Owner, now: float) -> None:
        self._write(join(self._folder, "drivers", f"{owner.token}.json"), json.dumps({"heartbeat": now}).encode())

    def heartbeat(self, token: str) -> float | None:
        data = _read(self._fs, join(self._folder, "drivers", f"{token}.json"))
        return None if data is None else float(json.loads(data)["heartbeat"])

    def forget(self, owner: Owner) -> None:
        _delete(self._fs, join(self._folder, "drivers", f"{owner.token}.json"))


def _read(filesystem: fs.FileSystem, path: str) -> bytes | None:
    try:
        with filesystem.open_input_stream(path) as stream:
            return bytes(stream.read())
    except FileNotFoundError:
        return None


def _delete(filesystem: fs.FileSystem, path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        filesystem.delete_file(path)


# --- records and processes ---------------------------------------------------------------------------------
def _dumps(owner: Owner, **extra: bool) -> bytes:
    return json.dumps({**asdict(owner), **extra}).encode()


def _owner(data: bytes) -> Owner:
    record = json.loads(data)
    return Owner(**{key: record[key] for key in ("token", "host", "machine", "pid", "started")})


def _machine() -> str:
    """This machine's boot and pid namespace: processes with the same one see each other's pids."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        return f"{boot}/{os.readlink('/proc/self/ns/pid')}"
    except OSError:  # not Linux: the hostname alone
        return socket.gethostname()


def process_start(pid: int) -> str | None:
    """When process `pid` started, as the kernel counts it; None if no such process runs (or only its zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        if Path("/proc/self/stat").exists():
            return None
        try:  # no /proc (not Linux): whether the pid exists is all there is to know
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return ""
    fields = stat.rsplit(")", 1)[1].split()  # after "pid (command)": state is field 3, starttime field 22
    return None if fields[0] in ("Z", "X") else fields[19]
