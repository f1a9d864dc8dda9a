"""The driver's MLflow writes, in order, held while a tracking server is away and sent when it answers again.

`sweep run`'s driver is MLflow's only writer. When a write fails because the server cannot be reached
(`sweeps.record.reachability.unreachable`), it and every later write are held, in order, and the run goes on: its
trials keep training and checkpointing. While writes are held, the driver asks the server's health check at
most every RETRY_EVERY seconds, and once it answers sends the held writes, oldest first.

A held write may be sent twice (the server may have stored it before the connection broke): each one is
idempotent. A metric carries the timestamp it was made with, and MLflow stores a metric once per key, step,
timestamp and value; tags, params, artifacts and a run's status are set to the same values again.

Bounds: more than `hold_epochs` epochs held, or `wait_seconds` spent waiting for the server where the driver
cannot go on without it (a call whose answer it needs: a new run's id, a search's best trial), stop the study
with `TrackingAway`. Every epoch it held is in its trial's checkpoint, and the next `sweep run` logs what
MLflow lacks from there.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from sweeps.errors import StudyStopped
from sweeps.record.reachability import unreachable

RETRY_EVERY = 5.0  # seconds between asking an away server whether it is back
T = TypeVar("T")


class TrackingAway(StudyStopped):
    """The tracking server stayed away past a bound: the study stops, to be resumed by the same command."""


@dataclass(frozen=True)
class OutageLimits:
    hold_epochs: int = 1000  # epochs held, not yet logged (tracking.hold_epochs)
    wait_seconds: float = 300.0  # waiting for the server where the run cannot go on without it (tracking.wait_seconds)


@dataclass(frozen=True)
class _Held:
    write: Callable[[], object]  # its answer is not waited for
    epochs: int  # epochs of metrics the write logs


class Outbox:
    """Sends writes to one tracking store, holding them in order while it cannot be reached."""

    def __init__(
        self,
        uri: str,
        limits: OutageLimits,
        answers: Callable[[], bool],
        notify: Callable[[str], None] = lambda line: None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._uri = uri
        self._limits = limits
        self._answers = answers  # whether the server answers now (one short try)
        self._notify = notify  # one line for the user when the server goes away and when it is back
        self._clock = clock
        self._sleep = sleep
        self._held: deque[_Held] = deque()
        self._away_since: float | None = None
        self._last_try = 0.0
        self._stopped = False  # a bound was passed: the study is stopping, later writes are only held
        self.flushed_epochs = 0  # epochs sent after being held, over the whole run

    @property
    def held_epochs(self) -> int:
        return sum(held.epochs for held in self._held)

    @property
    def away(self) -> bool:
        return self._away_since is not None

    def send(self, write: Callable[[], object], epochs: int = 0) -> None:
        """`write` now, or (the server away) after the writes held before it. Never blocks for the server."""
        if self.away and not self._stopped and self._clock() - self._last_try >= RETRY_EVERY:
            self._flush()
        if not self.away:
            try:
                write()
                return
            except Exception as error:
                if not unreachable(error):
                    raise
                self._went_away()
        self._held.append(_Held(write, epochs))
        if not self._stopped and self.held_epochs > self._limits.hold_epochs:
            self._stop(f"{self.held_epochs} epochs wait to be logged, more than tracking.hold_epochs={self._limits.hold_epochs}")

    def call(self, operation: Callable[[], T]) -> T:
        """The answer of `operation` (a read, or a write whose result is needed), after every held write;
        waits for an away server up to `wait_seconds`."""
        while True:
            self.sync()
            try:
                return operation()
            except Exception as error:
                if not unreachable(error):
                    raise
                self._went_away()

    def sync(self) -> None:
        """Every held write sent; waits for an away server up to `wait_seconds`."""
        while self.away:
            if self._stopped:
                raise self._away_error("the study is stopping")
            if self._flush():
                return
            waited = self._away_seconds()
            if waited >= self._limits.wait_seconds:
                self._stop(f"the run waited for it {waited:.0f} s, tracking.wait_seconds={self._limits.wait_seconds:g}")
            self._sleep(RETRY_EVERY)

    def release(self) -> int:
        """One last try to send what is held (the study is ending); the epochs still held after it."""
        if self.away:
            self._flush()
        return self.held_epochs

    def _flush(self) -> bool:
        """Send held writes, oldest first, if the server answers; whether none is left held."""
        self._last_try = self._clock()
        if not self._answers():
            return False
        flushed = 0
        while self._held:
            try:
                self._held[0].write()
            except Exception as error:
                if not unreachable(error):
                    raise
                self.flushed_epochs += flushed
                return False
            flushed += self._held.popleft().epochs
        self.flushed_epochs += flushed
        self._notify(
            f"the MLflow server at {self._uri} answers again after {self._away_seconds():.0f} s: "
            f"logged the {flushed} epochs held meanwhile, in order"
        )
        self._away_since = None
        return True

    def _away_seconds(self) -> float:
        """How long the server has been away (only asked while it is)."""
        assert self._away_since is not None
        return self._clock() - self._away_since

    def _went_away(self) -> None:
        if self._away_since is None:
            self._away_since = self._last_try = self._clock()
            self._notify(
                f"the MLflow server at {self._uri} does not answer; the trials go on, and what they report is held "
                f"(up to tracking.hold_epochs={self._limits.hold_epochs} epochs) until it answers again"
            )

    def _stop(self, why: str) -> None:
        self._stopped = True
        raise self._away_error(why)

    def _away_error(self, why: str) -> TrackingAway:
        away = self._clock() - (self._away_since or self._clock())
        return TrackingAway(
            f"tracking.uri: the MLflow server at {self._uri} has not answered for {away:.0f} s and {why}; the study "
            "stopped, and every epoch trained is in its trial's checkpoint. Start the server again, then run the same "
            "command: each trial resumes, and its run continues where MLflow's record ends"
        )
