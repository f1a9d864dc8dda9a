"""The live progress of `sweep run` as plain data: fed events by the recorder and the runner, read by a console.

Work is counted in *units*: one per epoch a trial trains (an evaluation-only stage trial, 0 epochs, is
one unit: its evaluation). The total is known up front: the grid's trials are registered before they
start, a search counts its samples and a stage its variants (corrected when the stage resolves), so
the trial count never grows mid-run; the unit total shrinks only when a trial ends before its last
epoch (stopped early by a search's scheduler, diverged, or failed).

The ETA is remaining units ÷ throughput, the throughput being the units finished over the last
few minutes of *training* (from the first trial's start, so Ray's start-up does not count). Nothing
here prints: `sweeps.run.console` renders it, and tests feed it events with a fake clock.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

Outcome = Literal["finished", "early_stopped", "failed", "diverged"]
RATE_WINDOW = 180.0  # seconds of recent units the throughput is measured over


@dataclass
class TrialProgress:
    trial_id: str
    name: str  # "q03 optim.lr=0.001": the question that first asked for it, then its variant
    epochs: int  # trainer.epochs (0: evaluation only)
    phase: str  # the grid, or the search or stage question it belongs to
    logged: int  # last epoch logged (-1: none yet)
    started_at: float | None = None  # when Ray started it in this invocation
    metric: float | None = None  # the latest val_acc
    outcome: Outcome | None = None

    @property
    def question(self) -> str:
        return self.name.split(" ", 1)[0]

    @property
    def variant(self) -> str:
        parts = self.name.split(" ", 1)
        return parts[1] if len(parts) > 1 else "(baseline)"

    @property
    def units(self) -> int:
        return max(self.epochs, 1)

    @property
    def units_done(self) -> int:
        """Units in MLflow: epochs logged (an evaluation-only trial's epoch 0 counts as its one unit)."""
        return 0 if self.logged < 0 else max(self.logged, 1 if self.epochs == 0 else 0)

    @property
    def running(self) -> bool:
        return self.started_at is not None and self.outcome is None


@dataclass
class _Phase:
    trials: int  # expected trials (a search's samples, a stage's variants) until all are registered
    units_per_trial: int


@dataclass
class RunProgress:
    study: str
    clock: Callable[[], float] = time.monotonic
    started: float = 0.0
    trials: dict[str, TrialProgress] = field(default_factory=dict)
    _phases: dict[str, _Phase] = field(default_factory=dict)
    _units: deque[float] = field(default_factory=deque)  # when each unit of this invocation finished
    units_done: int = 0  # finished in this invocation
    work_started: float | None = None  # the first trial's start
    # Kept as the events arrive, so a console line costs the same at the 10,000th trial as at the first:
    _registered: Counter[str] = field(default_factory=Counter)  # phase → its trials added
    _outcomes: Counter[Outcome] = field(default_factory=Counter)
    _running: dict[str, TrialProgress] = field(default_factory=dict)
    _open_units: int = 0  # units left of the trials added and not ended

    def __post_init__(self) -> None:
        self.started = self.clock()

    # --- events ---------------------------------------------------------------------------------
    def expect(self, phase: str, trials: int, units_per_trial: int) -> None:
        """`phase` will run `trials` trials of about `units_per_trial` units each (set again to correct it)."""
        self._phases[phase] = _Phase(trials, max(units_per_trial, 1))

    def add(self, trial_id: str, name: str, epochs: int, logged: int, phase: str) -> None:
        """A trial of `phase` with its run open, `logged` epochs already in MLflow (-1: none)."""
        if trial_id not in self.trials:
            trial = self.trials[trial_id] = TrialProgress(trial_id, name, epochs, phase, logged)
            self._registered[phase] += 1
            self._open_units += trial.units - trial.units_done

    def start(self, trial_id: str) -> None:
        now = self.clock()
        trial = self.trials[trial_id]
        trial.started_at = now
        if trial.outcome is None:
            self._running[trial_id] = trial
        if self.work_started is None:
            self.work_started = now

    def epoch(self, trial_id: str, epoch: int, metric: float | None) -> None:
        """A result of `trial_id`: a new unit if `epoch` was not logged before."""
        trial = self.trials[trial_id]
        if metric is not None:
            trial.metric = metric
        if epoch > trial.logged:
            before = trial.units_done
            trial.logged = epoch
            if trial.outcome is None:
                self._open_units -= trial.units_done - before
            for _ in range(trial.units_done - before):
                self._unit()

    def end(self, trial_id: str, outcome: Outcome) -> None:
        trial = self.trials[trial_id]
        if trial.outcome is None:
            self._open_units -= trial.units - trial.units_done
        else:
            self._outcomes[trial.outcome] -= 1
        trial.outcome = outcome
        self._outcomes[outcome] += 1
        self._running.pop(trial_id, None)

    def _unit(self) -> None:
        now = self.clock()
        self.units_done += 1
        self._units.append(now)
        while self._units and self._units[0] < now - RATE_WINDOW:
            self._units.popleft()

    # --- what a console shows -------------------------------------------------------------------
    def _placeholders(self) -> dict[str, int]:
        return {key: max(0, phase.trials - self._registered[key]) for key, phase in self._phases.items()}

    @property
    def total_trials(self) -> int:
        return len(self.trials) + sum(self._placeholders().values())

    @property
    def ended(self) -> int:
        return sum(self._outcomes.values())

    def count(self, outcome: Outcome) -> int:
        return self._outcomes[outcome]

    @property
    def running(self) -> list[TrialProgress]:
        return sorted(self._running.values(), key=lambda t: t.started_at or 0.0)

    @property
    def units_left(self) -> int:
        waiting = sum(count * self._phases[key].units_per_trial for key, count in self._placeholders().items())
        return self._open_units + waiting

    @property
    def units_total(self) -> int:
        """This invocation's units: done so far plus left (shrinks when a trial ends early)."""
        return self.units_done + self.units_left

    def elapsed(self) -> float:
        return self.clock() - self.started

    def eta(self) -> float | None:
        """Seconds left at the recent throughput; None before the first unit."""
        if not self._units or self.work_started is None:
            return None
        now = self.clock()
        recent = sum(1 for finished in self._units if finished >= now - RATE_WINDOW)
        span = min(RATE_WINDOW, now - self.work_started)
        if recent == 0 or span <= 0:
            return None
        return self.units_left * span / recent
