"""One epoch's training steps of one image trial: eager on any device, or replayed from a CUDA graph.

Every step gathers its batch on the device from the epoch's order (drawn on the CPU from the trial's
shuffle generator), crops it when the data set asks, and runs forward, backward and the optimizer.
Dropout draws from the trial's own noise generator. On a GPU (`capture`), a full batch's step is
captured once as a CUDA graph — the gather, the crop, forward, backward, the optimizer's update and
the epoch's running sums — and replayed for every full batch: one launch per step instead of hundreds.
The first steps after a start run eagerly (they create the optimizer's state and warm the libraries
up), and so does the epoch's last, partial batch. In deterministic mode the replayed steps compute
what the eager ones compute.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from trainables.image.augment import crop_at, crop_offsets
from trainables.image.data import Split
from trainables.image.losses import Loss
from trainables.state import TrialState

EAGER_WARMUP_STEPS = 2  # eager steps before the capture: the optimizer's state exists, libraries are warm


@dataclass(frozen=True)
class EpochStats:
    loss: float
    accuracy: float
    seconds: float  # the whole training pass
    forward_seconds: float
    backward_seconds: float  # backward pass and optimizer step
    batch_sizes: torch.Tensor  # (batches,) on the CPU
    batch_correct: torch.Tensor  # (batches,) on the CPU


def draw_epoch(state: TrialState, count: int, crop: int | None, image_side: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The epoch's order of the `count` training examples and, with `crop`, each one's crop corner:
    drawn on the CPU from the trial's shuffle generator, in this order, whatever the device."""
    order = torch.randperm(count, generator=state.shuffle)
    offsets = crop_offsets(count, crop, *image_side, state.shuffle) if crop else None
    return order, offsets


class SoloSteps:
    """The training steps of one trial, epoch after epoch (a captured graph is kept across epochs)."""

    def __init__(self, state: TrialState, loss_fn: Loss, split: Split, batch_size: int, crop: int | None, capture: bool) -> None:
        self._state = state
        self._loss_fn = loss_fn
        self._split = split
        self._batch_size = batch_size
        self._crop = crop
        self._capture = capture and state.device.type == "cuda"
        device = state.device
        count = len(split)
        batches = -(-count // batch_size)
        # Device-side state every step reads and writes: a captured step sees these same tensors.
        self._order = torch.zeros(count, dtype=torch.int64, device=device)
        self._offsets = torch.zeros((count, 2), dtype=torch.int64, device=device)
        self._step = torch.zeros(1, dtype=torch.int64, device=device)  # the batch number within the epoch
        self._loss_sum = torch.zeros((), device=device)
        self._correct = torch.zeros(batches, dtype=torch.int64, device=device)
        self._graph: Any = None  # torch.cuda.CUDAGraph once captured
        self._stream: Any = torch.cuda.Stream(device) if self._capture else None  # eager, captured and replayed steps
        self._eager_steps = 0

    def epoch(self) -> EpochStats:
        """One pass over the training split in a fresh random order."""
        if self._stream is None:
            return self._epoch()
        self._stream.wait_stream(torch.cuda.current_stream(self._state.device))
        with torch.cuda.stream(self._stream):
            stats = self._epoch()
        torch.cuda.current_stream(self._state.device).wait_stream(self._stream)
        return stats

    def _epoch(self) -> EpochStats:
        state, split, size = self._state, self._split, self._batch_size
        state.model.train()
        count = len(split)
        started = time.perf_counter()
        order, offsets = draw_epoch(state, count, self._crop, (split.x.shape[-2], split.x.shape[-1]))
        self._order.copy_(order, non_blocking=True)
        if offsets is not None:
            self._offsets.copy_(offsets, non_blocking=True)
        self._step.zero_()
        self._loss_sum.zero_()
        clock = None if self._capture else _PassClock(state.device)  # captured epochs estimate their passes
        full = count // size
        for batch in range(full):
            if self._graph is not None:
                self._graph.replay()
                continue
            self._eager(batch * size, size, clock)
            if self._capture and self._eager_steps >= EAGER_WARMUP_STEPS and batch + 1 < full:
                self._graph = captured_or_none(self._captured)
                self._capture = self._graph is not None
        if count % size:
            self._eager(full * size, count % size, clock)
        correct = self._correct.cpu()  # the epoch's one synchronisation
        seconds = time.perf_counter() - started
        sizes = torch.tensor([size] * full + ([count % size] if count % size else []))
        forward, backward = clock.totals() if clock is not None else self._estimated_passes(seconds)
        return EpochStats(
            loss=self._loss_sum.item() / count,
            accuracy=correct.sum().item() / count,
            seconds=seconds,
            forward_seconds=forward,
            backward_seconds=backward,
            batch_sizes=sizes,
            batch_correct=correct,
        )

    def _body(self, positions: torch.Tensor, clock: _PassClock | None) -> None:
        """One step on the examples at `positions` of the epoch's order (all device work; capturable)."""
        state, split = self._state, self._split
        index = self._order.index_select(0, positions)
        inputs, targets = split.x.index_select(0, index), split.y.index_select(0, index)
        if self._crop:
            inputs = crop_at(inputs, self._offsets.index_select(0, index), self._crop)
        if clock is not None:
            clock.mark()
        output = state.model(inputs)
        loss = self._loss_fn(output, targets)
        if clock is not None:
            clock.mark()
        loss.backward()
        state.optimizer.step()
        if clock is not None:
            clock.mark()
        self._loss_sum.add_(loss.detach() * len(positions))
        self._correct.index_copy_(0, self._step, (output.detach().argmax(1) == targets).sum().view(1))
        self._step.add_(1)

    def _eager(self, start: int, length: int, clock: _PassClock | None) -> None:
        self._state.optimizer.zero_grad(set_to_none=True)
        self._body(torch.arange(start, start + length, device=self._state.device), clock)
        self._eager_steps += 1

    def _captured(self) -> Any:
        """The full batch's step as a CUDA graph; the batch it is captured on is not trained (capture runs nothing)."""
        state, size = self._state, self._batch_size
        graph = torch.cuda.CUDAGraph()
        graph.register_generator_state(state.noise)  # dropout's generator advances with every replay
        state.optimizer.zero_grad(set_to_none=True)  # the replayed backward writes the graph's own gradients
        with torch.cuda.graph(graph, stream=self._stream):
            self._body(self._step * size + torch.arange(size, device=state.device), None)
        return graph

    def _estimated_passes(self, seconds: float) -> tuple[float, float]:
        """Forward and backward seconds of a captured epoch: one inference-mode forward of a full batch,
        timed now, stands for the forward of every batch; the rest of the pass is backward and update."""
        state, size = self._state, self._batch_size
        batches = -(-len(self._split) // size)
        inputs = self._split.x[:size]
        if self._crop:
            inputs = inputs[..., : self._crop, : self._crop]
        state.model.eval()
        with torch.no_grad():
            torch.cuda.synchronize(state.device)
            started = time.perf_counter()
            state.model(inputs)
            torch.cuda.synchronize(state.device)
            forward = (time.perf_counter() - started) * batches
        state.model.train()
        return forward, max(0.0, seconds - forward)


def captured_or_none(capture: Callable[[], Any]) -> Any:
    """`capture()`'s graph; None, with one line on stderr, where this torch or driver cannot capture it
    (the steps then stay eager: slower, the same results)."""
    try:
        return capture()
    except (RuntimeError, AttributeError) as error:
        print(f"trainables: CUDA graph capture failed, training eagerly: {str(error).splitlines()[0]}", file=sys.stderr)
        return None


class _PassClock:
    """Forward and backward seconds of eager steps: wall clock on the CPU, CUDA events on a GPU (no per-batch sync)."""

    def __init__(self, device: torch.device) -> None:
        self._cuda = device.type == "cuda"
        self._marks: list[Any] = []

    def mark(self) -> None:
        if not self._cuda:
            self._marks.append(time.perf_counter())
            return
        event = torch.cuda.Event(enable_timing=True)
        event.record()
        self._marks.append(event)

    def totals(self) -> tuple[float, float]:
        if self._cuda:
            torch.cuda.synchronize()
        spans = [self._seconds(a, b) for a, b in zip(self._marks, self._marks[1:], strict=False)]
        # Marks come in threes per batch: start, forward done, backward done.
        return sum(spans[0::3]), sum(spans[1::3])

    def _seconds(self, start: Any, end: Any) -> float:
        return start.elapsed_time(end) / 1000.0 if self._cuda else end - start
