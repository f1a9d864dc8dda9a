"""The live progress of `sweep run`: trials done, running and failed, elapsed time and an ETA by epochs."""

from __future__ import annotations

import time
from typing import TextIO

PRINT_EVERY = 5.0  # seconds between progress lines when nothing else changed


class Progress:
    """Counts what the recorder tells it and prints one line per change (at most every PRINT_EVERY s)."""

    def __init__(self, study: str, out: TextIO) -> None:
        self._study = study
        self._out = out
        self._start = time.monotonic()
        self._last_print = 0.0
        self.epochs_todo = 0
        self.epochs_done = 0

    def elapsed(self) -> str:
        return clock(time.monotonic() - self._start)

    def show(self, done: int, total: int, running: int, failed: int, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_print < PRINT_EVERY:
            return
        self._last_print = now
        elapsed = now - self._start
        left = max(0, self.epochs_todo - self.epochs_done)
        eta = clock(elapsed / self.epochs_done * left) if self.epochs_done else "?"
        print(
            f"[{self._study}] {done}/{total} trials done · {running} running · {failed} failed · "
            f"elapsed {clock(elapsed)} · ETA {eta}",
            file=self._out,
            flush=True,
        )


def clock(seconds: float) -> str:
    """`m:ss`, or `h:mm:ss` from an hour on."""
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}" if minutes >= 60 else f"{minutes}:{secs:02d}"
