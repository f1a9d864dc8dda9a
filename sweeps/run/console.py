"""What `sweep run` shows while it runs: a live console on a terminal, plain lines elsewhere.

On a terminal (rich's Live display): one bar over the whole run counted in epochs, with trials done,
running and failed, the elapsed time and the ETA, and below it one line per running trial (question,
variant, epoch k/n, latest val accuracy). The sweep's own messages print above the display.

Elsewhere (CI, `ray job` logs, a pipe): the same messages, and one line per trial that ends.

Both read a `sweeps.run.progress.RunProgress`; `render_text` renders the live display to a string, so
tests see what a terminal would without one.
"""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from sweeps.run.progress import Outcome, RunProgress, TrialProgress
from sweeps.words import clock, plural

MAX_TRIAL_LINES = 12  # running trials shown one per line; the rest are counted


def status_line(progress: RunProgress) -> str:
    """`3/34 trials done · 2 running · 0 failed · 37/68 epochs · elapsed 0:21 · ETA 0:19`"""
    eta = progress.eta()
    failed = progress.count("failed")
    parts = [
        f"{progress.ended}/{plural(progress.total_trials, 'trial')} done",
        f"{len(progress.running)} running",
        f"{failed} failed",
        f"{progress.units_done}/{plural(progress.units_total, 'epoch')}",
        f"elapsed {clock(progress.elapsed())}",
        f"ETA {clock(eta) if eta is not None else '?'}",
    ]
    return " · ".join(parts)


def trial_cells(trial: TrialProgress) -> tuple[str, str, str, str]:
    """A running trial's line: question, `epoch k/n`, `val_acc 0.8123`, variant (last: it may be long)."""
    metric = f"val_acc {trial.metric:.4f}" if trial.metric is not None else "val_acc –"
    step = "evaluating" if trial.epochs == 0 else f"epoch {max(trial.logged, 0)}/{trial.epochs}"
    return trial.question, step, metric, trial.variant


def ended_line(progress: RunProgress, trial: TrialProgress) -> str:
    """The plain line for a trial that ended: what it reached, then where the whole run is."""
    metric = f" · val_acc {trial.metric:.4f}" if trial.metric is not None else ""
    how = {
        "finished": "finished",
        "early_stopped": f"stopped early at epoch {max(trial.logged, 0)}/{trial.epochs}",
        "failed": f"failed at epoch {max(trial.logged, 0)}/{trial.epochs}",
        "diverged": f"diverged at epoch {max(trial.logged, 0)}/{trial.epochs} (non-finite training loss)",
    }[trial.outcome or "finished"]
    return f"[{progress.study}] {trial.question} {trial.variant}: {how}{metric} · {status_line(progress)}"


def live_renderable(progress: RunProgress, height: int | None = None) -> Any:
    """The live display: the run's bar and status, then one line per running trial."""
    from rich.console import Group
    from rich.progress_bar import ProgressBar
    from rich.table import Table
    from rich.text import Text

    head = Table.grid(padding=(0, 1))
    head.add_column(no_wrap=True)
    head.add_column(width=30, no_wrap=True)
    head.add_column()
    bar = ProgressBar(total=max(progress.units_total, 1), completed=progress.units_done, width=30)
    head.add_row(Text(progress.study, style="bold"), bar, Text(status_line(progress)))
    running = progress.running
    room = MAX_TRIAL_LINES if height is None else max(1, min(MAX_TRIAL_LINES, height - 3))
    rows = Table.grid(padding=(0, 2))
    for column in range(4):
        rows.add_column(no_wrap=True, overflow="ellipsis", justify="right" if column == 1 else "left")
    for trial in running[:room]:
        question, step, metric, variant = trial_cells(trial)
        rows.add_row("  " + question, step, metric, variant)
    more = [Text(f"  … and {len(running) - room} more running", style="dim")] if len(running) > room else []
    return Group(head, rows, *more) if running else head


def render_text(progress: RunProgress, width: int = 120) -> str:
    """The live display as plain text, as a terminal `width` columns wide would show it."""
    from rich.console import Console as RichConsole

    buffer = io.StringIO()
    RichConsole(file=buffer, width=width, color_system=None, force_terminal=False, legacy_windows=False).print(
        live_renderable(progress)
    )
    return buffer.getvalue()


class Console:
    """Takes the recorder's and runner's events; plain lines (the base) or a live display (LiveConsole)."""

    def __init__(self, progress: RunProgress, out: TextIO) -> None:
        self.progress = progress
        self._out = out
        self._lock = threading.RLock()  # a live display renders from its own thread

    # The events (sweeps.run.progress.RunProgress's), under the lock.
    def expect(self, phase: str, trials: int, units_per_trial: int) -> None:
        with self._lock:
            self.progress.expect(phase, trials, units_per_trial)

    def add(self, trial_id: str, name: str, epochs: int, logged: int, phase: str) -> None:
        with self._lock:
            self.progress.add(trial_id, name, epochs, logged, phase)

    def start(self, trial_id: str) -> None:
        with self._lock:
            self.progress.start(trial_id)

    def epoch(self, trial_id: str, epoch: int, metric: float | None) -> None:
        with self._lock:
            self.progress.epoch(trial_id, epoch, metric)

    def end(self, trial_id: str, outcome: Outcome) -> None:
        with self._lock:
            self.progress.end(trial_id, outcome)
            self._ended(self.progress.trials[trial_id])

    def _ended(self, trial: TrialProgress) -> None:
        self.note(ended_line(self.progress, trial))

    def note(self, text: str) -> None:
        """One of the sweep's own messages (a line)."""
        print(text, file=self._out, flush=True)

    @property
    def out(self) -> io.TextIOBase:
        """A text stream whose lines become notes (for code that prints its messages to a stream)."""
        return _NoteStream(self)

    def close(self) -> None:
        pass

    def __reduce__(self) -> tuple[Any, ...]:
        """Ray Tune pickles its callbacks (the recorder, and this with it) into the experiment's state:
        the copy is a plain console on stdout (a terminal, a lock and a display thread do not pickle)."""
        return (_plain_on_stdout, (self.progress,))


def _plain_on_stdout(progress: RunProgress) -> Console:
    return Console(progress, _sys_stdout())


class LiveConsole(Console):
    """rich's Live display on a terminal, redrawn a few times a second; notes print above it.

    The display starts with the first trial, so a run with nothing to do shows only its messages.
    """

    def __init__(self, progress: RunProgress, out: TextIO) -> None:
        super().__init__(progress, out)
        from rich.console import Console as RichConsole
        from rich.live import Live

        self._rich = RichConsole(file=out)
        self._live = Live(
            console=self._rich, get_renderable=self._renderable, refresh_per_second=4, transient=False,
            redirect_stdout=out is _sys_stdout(), redirect_stderr=True,
        )  # fmt: skip
        self._shown = False

    def add(self, trial_id: str, name: str, epochs: int, logged: int, phase: str) -> None:
        super().add(trial_id, name, epochs, logged, phase)
        if not self._shown:
            self._shown = True
            self._live.start()

    def _renderable(self) -> Any:
        with self._lock:
            return live_renderable(self.progress, self._rich.size.height)

    def _ended(self, trial: TrialProgress) -> None:
        pass  # the display shows it: the trial's line goes, the counts move

    def note(self, text: str) -> None:
        from rich.text import Text

        with self._lock:
            self._rich.print(Text(text), soft_wrap=True)

    def close(self) -> None:
        if self._shown:
            self._live.refresh()
            self._live.stop()


class _NoteStream(io.TextIOBase):
    def __init__(self, console: Console) -> None:
        self._console = console
        self._pending = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            self._console.note(line)
        return len(text)

    def flush(self) -> None:
        if self._pending:
            self._console.note(self._pending)
            self._pending = ""


def _sys_stdout() -> TextIO:
    import sys

    return sys.stdout


def is_terminal(out: TextIO) -> bool:
    isatty = getattr(out, "isatty", None)
    return bool(isatty and isatty()) and os.environ.get("TERM", "") != "dumb"


@contextmanager
def open_console(study: str, out: TextIO) -> Iterator[Console]:
    """A live console on a terminal, plain lines otherwise; closed (the display stopped) on exit."""
    progress = RunProgress(study)
    console: Console = LiveConsole(progress, out) if is_terminal(out) else Console(progress, out)
    try:
        yield console
    finally:
        console.close()
