"""The epoch scaffold every kind's loop runs: its epochs after the last finished one, a report with a
way to checkpoint after each, and the final report with the test metrics and the phase timings.

A loop brings what differs: one epoch (training pass, evaluation, that epoch's metrics) and its test metrics.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from trainables.callback import EpochReport, Report
from trainables.state import TrialState


def run_epochs(state: TrialState, epochs: int, epoch: Callable[[int], dict[str, float]], report: Report) -> None:
    """Epochs len(history)+1 … `epochs`: `epoch(number)`'s metrics join the history and are reported,
    except the last epoch's, which `final_report` sends with the test metrics."""
    for number in range(len(state.history) + 1, epochs + 1):
        state.history.append(epoch(number))
        if number < epochs:
            report(EpochReport(number, state.history[-1], state.checkpoint, None))


def final_report(
    state: TrialState,
    report: Report,
    phases: dict[str, float],
    test: Mapping[str, float],
    confusion_matrix: list[list[int]] | None = None,
) -> None:
    """The last epoch's metrics, `test` and the phase timings (phase_train: the training passes, summed).

    Also what a resumed trial sends when it had trained to the end but stopped before reporting it.
    """
    phases["train"] = sum(metrics.get("epoch_seconds", 0.0) for metrics in state.history)
    metrics = {**state.history[-1], **test, **{f"phase_{name}_seconds": seconds for name, seconds in phases.items()}}
    report(EpochReport(int(state.history[-1]["epoch"]), metrics, state.checkpoint, confusion_matrix))
