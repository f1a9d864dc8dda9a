"""The run's console without a terminal: a RunProgress fed events under a fake clock, rendered to text."""

from __future__ import annotations

import io

import pytest

from sweeps.run.console import Console, render_text, status_line
from sweeps.run.progress import Outcome, RunProgress
from sweeps.words import clock, plural


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def time() -> FakeClock:
    return FakeClock()


def test_plural_gets_one_and_many_right() -> None:
    assert plural(1, "trial") == "1 trial"
    assert plural(2, "trial") == "2 trials"
    assert plural(0, "trial") == "0 trials"
    assert plural(1, "question-variant") == "1 question-variant"


def test_the_live_display_has_the_bar_counts_and_one_line_per_running_trial(time: FakeClock) -> None:
    progress = RunProgress("jhu_fashion", clock=time)
    progress.expect("grid", 3, 1)
    progress.add("a", "q03 optim.lr=0.001", 3, -1, "grid")
    progress.add("b", "q05 model.dropout=0.5", 3, -1, "grid")
    progress.add("c", "q01 data=mnist", 3, -1, "grid")
    time.now += 10  # Ray starts
    progress.start("a")
    progress.start("b")
    time.now += 2
    progress.epoch("a", 1, 0.61)
    time.now += 2
    progress.epoch("a", 2, 0.8)
    text = render_text(progress, width=160)
    lines = text.splitlines()
    assert lines[0].startswith("jhu_fashion")
    assert "━" in lines[0]  # the bar
    assert "0/3 trials done · 2 running · 0 failed · 2/9 epochs · elapsed 0:14 · ETA" in lines[0]
    assert lines[1].split() == ["q03", "epoch", "2/3", "val_acc", "0.8000", "optim.lr=0.001"]
    assert lines[2].split() == ["q05", "epoch", "0/3", "val_acc", "–", "model.dropout=0.5"]
    assert lines[1].index("epoch") == lines[2].index("epoch")  # in columns
    assert len(lines) == 3  # the trial not started yet has no line


def test_counts_are_grammatical_for_one_trial(time: FakeClock) -> None:
    progress = RunProgress("s", clock=time)
    progress.expect("grid", 1, 1)
    progress.add("a", "q01 (baseline)", 1, -1, "grid")
    progress.start("a")
    assert status_line(progress).startswith("0/1 trial done · 1 running · 0 failed · 0/1 epoch ·")
    time.now += 1
    progress.epoch("a", 1, 0.5)
    progress.end("a", "finished")
    assert status_line(progress).startswith("1/1 trial done · 0 running · 0 failed · 1/1 epoch ·")


def test_the_total_is_known_up_front_and_a_search_counts_its_samples(time: FakeClock) -> None:
    progress = RunProgress("s", clock=time)
    progress.expect("grid", 2, 1)
    progress.add("g1", "q01 a", 3, -1, "grid")
    progress.add("g2", "q01 b", 3, 1, "grid")  # resumed: epoch 1 already in MLflow
    progress.expect("q13", 4, 5)  # a search: 4 samples of up to 5 epochs
    progress.expect("q14", 2, 0)  # a stage of two evaluation-only variants
    assert progress.total_trials == 2 + 4 + 2
    assert progress.units_total == 3 + 2 + 4 * 5 + 2
    progress.add("s1", "q13 lr=0.1", 5, -1, "q13")  # a sample, known only when it starts
    progress.start("s1")
    assert progress.total_trials == 8 and progress.units_total == 27
    for epoch in (1, 2):
        progress.epoch("s1", epoch, 0.5)
    progress.end("s1", "early_stopped")  # ASHA stops it at epoch 2: its last 3 epochs will not run
    assert progress.total_trials == 8
    assert progress.units_done == 2 and progress.units_total == 24
    progress.expect("q14", 1, 1)  # the stage resolved: one of its trials was already finished
    progress.add("t1", "q14 data=mnist", 0, -1, "q14")
    progress.start("t1")
    progress.epoch("t1", 0, 0.9)  # evaluation only: epoch 0, one unit
    assert progress.total_trials == 7 and progress.units_done == 3 and progress.units_total == 24 - 2 + 1


def _simulate(trials: int, epochs: int, parallel: int, ray_start: float, trial_start: float, epoch_seconds: float):
    """Events of a run: `parallel` trials at a time, each `trial_start` s to start, then its epochs.

    Yields (time, event) in time order; the caller applies them to a RunProgress.
    """
    events = []
    slots = [ray_start] * parallel
    for index in range(trials):
        slot = min(range(parallel), key=lambda i: slots[i])
        begin = slots[slot]
        events.append((begin, "start", index, 0))
        for epoch in range(1, epochs + 1):
            events.append((begin + trial_start + epoch * epoch_seconds, "epoch", index, epoch))
        slots[slot] = begin + trial_start + epochs * epoch_seconds
        events.append((slots[slot], "end", index, epochs))
    return sorted(events, key=lambda event: (event[0], event[1] != "start"))


@pytest.mark.parametrize("trials, epochs, parallel", [(20, 1, 2), (20, 10, 2), (6, 10, 1), (34, 3, 4)])
def test_the_eta_is_close_from_the_first_epochs_on(time: FakeClock, trials: int, epochs: int, parallel: int) -> None:
    """Ray's start-up (20 s here) does not inflate the ETA; after 10 % of the epochs it is within 25 %."""
    start = time.now
    progress = RunProgress("s", clock=time)
    progress.expect("grid", trials, 1)
    for index in range(trials):
        progress.add(str(index), f"q01 v={index}", epochs, -1, "grid")
    events = _simulate(trials, epochs, parallel, ray_start=start + 20, trial_start=1.0, epoch_seconds=2.0)
    end = events[-1][0]
    checked = 0
    for position, (at, kind, index, epoch) in enumerate(events):
        time.now = at
        if kind == "start":
            progress.start(str(index))
        elif kind == "epoch":
            progress.epoch(str(index), epoch, 0.5)
        else:
            progress.end(str(index), "finished")
        settled = position + 1 == len(events) or events[position + 1][0] > at  # every event of this instant applied
        if settled and progress.units_done >= max(2, trials * epochs // 10) and progress.units_left:
            eta = progress.eta()
            assert eta is not None
            assert abs(eta - (end - at)) <= 0.25 * (end - at) + 3.0, (progress.units_done, eta, end - at)
            checked += 1
    assert checked
    assert progress.units_done == progress.units_total == trials * epochs


def test_no_eta_before_the_first_epoch(time: FakeClock) -> None:
    progress = RunProgress("s", clock=time)
    progress.expect("grid", 1, 1)
    progress.add("a", "q01 x=1", 2, -1, "grid")
    progress.start("a")
    time.now += 5
    assert progress.eta() is None
    assert "ETA ?" in status_line(progress)


def test_a_plain_console_prints_one_line_per_trial_that_ends(time: FakeClock) -> None:
    out = io.StringIO()
    console = Console(RunProgress("jhu_fashion", clock=time), out)
    console.expect("grid", 2, 1)
    console.add("a", "q03 optim.lr=0.001", 2, -1, "grid")
    console.add("b", "q03 optim.lr=0.1", 2, -1, "grid")
    console.note("jhu_fashion: running 2 trials; MLflow: sqlite:///x.db")
    console.start("a")
    console.start("b")
    for epoch in (1, 2):
        time.now += 3
        console.epoch("a", epoch, 0.7 + epoch / 100)
        console.epoch("b", epoch, 0.1)
    console.end("a", "finished")
    console.end("b", "failed")
    print("a stage's line", file=console.out)
    lines = out.getvalue().splitlines()
    assert lines == [
        "jhu_fashion: running 2 trials; MLflow: sqlite:///x.db",
        "[jhu_fashion] q03 optim.lr=0.001: finished · val_acc 0.7200 · 1/2 trials done · 1 running · 0 failed · "
        "4/4 epochs · elapsed 0:06 · ETA 0:00",
        "[jhu_fashion] q03 optim.lr=0.1: failed at epoch 2/2 · val_acc 0.1000 · 2/2 trials done · 0 running · "
        "1 failed · 4/4 epochs · elapsed 0:06 · ETA 0:00",
        "a stage's line",
    ]


def test_clock_format() -> None:
    assert clock(46) == "0:46"
    assert clock(3725) == "1:02:05"


def test_the_counts_kept_as_events_arrive_match_the_trials_they_count() -> None:
    """The counts a console line reads are kept as events arrive (a line costs the same at any study size);
    after every event of a random run of many trials they equal the counts taken over every trial."""
    import random

    chance = random.Random(7)
    progress = RunProgress("study", clock=iter(range(100_000)).__next__)
    progress.expect("grid", 300, 3)
    outcomes: list[Outcome] = ["finished", "early_stopped", "failed", "diverged"]
    for step in range(3000):
        trial_id = f"t{chance.randrange(300)}"
        if trial_id not in progress.trials:
            progress.add(trial_id, f"q1 seed={trial_id}", chance.choice([0, 3]), chance.choice([-1, 0, 1]), "grid")
        else:
            trial = progress.trials[trial_id]
            event = chance.random()
            if event < 0.3:
                progress.start(trial_id)
            elif event < 0.8:
                progress.epoch(trial_id, trial.logged + 1, 0.5)
            else:
                progress.end(trial_id, chance.choice(outcomes))
        trials = progress.trials.values()
        assert progress.ended == sum(trial.outcome is not None for trial in trials), step
        assert all(progress.count(outcome) == sum(trial.outcome == outcome for trial in trials) for outcome in outcomes)
        assert progress.running == sorted((t for t in trials if t.running), key=lambda t: t.started_at or 0.0)
        open_units = sum(t.units - t.units_done for t in trials if t.outcome is None)
        assert progress.units_left == open_units + (300 - len(progress.trials)) * 3, step
