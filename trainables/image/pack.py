"""A fused pack of image trials: several trials that share an architecture, input shape, batch size and
training-set size trained together, one vmapped step (torch.func) for all of them per batch.

Each member keeps everything it would have alone: its seed (initial weights), its own generators (data
order, crops, dropout masks — drawn in the same order as alone), its optimizer and hyperparameters (an
SGD member next to an Adam one: each member's update is torch's own, run on its own parameters), its
dropout probability, its epochs and resume point, its reports and checkpoints. Only the forward and
backward passes are fused: the members' parameters are stacked, each member's module aliases its slice,
and `vmap(grad(…))` computes every member's gradients in one call. On a GPU the whole step — masks,
gather, forward, backward and every member's update — is captured once as a CUDA graph and replayed.

Members start and end at epoch boundaries: a member whose last epoch is done leaves with its final
report, one whose loss stopped being finite with its epoch reported as diverged, and the others are
stacked anew. On a GPU one fused step holds as many members as the trial's share of the GPU's memory
fits (`members_per_step`, from the model's estimate); the others wait and join as members leave.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.func import functional_call, grad, vmap

from trainables.callback import Checkpoint, EpochReport, Report
from trainables.epochs import diverged, report_divergence
from trainables.image.augment import crop_at
from trainables.image.data import InMemoryData
from trainables.image.layers import plan_model
from trainables.image.loop import epoch_metrics, final_image_report, prepare_device, prepared_data, start_trial
from trainables.image.losses import LOSSES, Loss
from trainables.image.model import Dropout, build_model, dropouts
from trainables.image.sources import data_shape
from trainables.image.steps import EAGER_WARMUP_STEPS, EpochStats, captured_or_none, draw_epoch
from trainables.optim import capturable
from trainables.placement import Placement
from trainables.state import TrialState

FLOAT_BYTES = 4  # float32: parameters, optimizer state, activations
MEMORY_USE = 0.5  # of the trial's share of free GPU memory that a step plans on: the estimate leaves out the
# allocator's rounding, the captured graph's pool and the data set, which stays on the device beside it


@dataclass
class _Member:
    config: Mapping[str, Any]
    report: Report
    state: TrialState
    data: InMemoryData
    phases: dict[str, float]
    dropouts: list[Dropout] = field(default_factory=list)

    @property
    def epochs(self) -> int:
        return int(self.config["trainer"]["epochs"])

    @property
    def done(self) -> bool:
        return len(self.state.history) >= self.epochs


def train_pack(
    configs: Sequence[Mapping[str, Any]],
    data_root: str | Path,
    reports: Sequence[Report],
    placement: Placement = Placement(),
    resumes: Sequence[Checkpoint | None] = (),
) -> None:
    """Train every config (validated trial configs that share a pack key) as one pack; `reports[i]` and
    `resumes[i]` are trial i's, exactly as `train` takes them alone."""
    device = prepare_device(placement)
    placement = Placement(placement.device, placement.threads, channels_last=False, capture=placement.capture)
    loaded: dict[str, InMemoryData] = {}
    members = []
    for config, report, resume in zip(configs, reports, list(resumes) or [None] * len(configs), strict=True):
        clock = time.perf_counter()
        key = json.dumps(config["data"], sort_keys=True)
        if key not in loaded:
            loaded[key] = prepared_data(config["data"], data_root, device, placement)
        phases = {"data_load": time.perf_counter() - clock}
        clock = time.perf_counter()
        state = start_trial(config, data_root, device, placement, resume)
        phases["build"] = time.perf_counter() - clock
        members.append(_Member(config, report, state, loaded[key], phases, dropouts(state.model)))
    waiting = _leave(members)  # resumed after its last epoch (before its final report), or after diverging
    room = members_per_step(configs[0], device, placement.gpu_share)
    active: list[_Member] = []
    while active or waiting:
        joining = room - len(active)
        active, waiting = active + waiting[:joining], waiting[joining:]
        capture = placement.capture and device.type == "cuda" and all(capturable(m.config["optim"]["name"]) for m in active)
        fused = _Fused(active, capture)
        while all(not member.done for member in active):
            for member, stats in zip(active, fused.epoch(), strict=True):
                _epoch_done(member, stats)
            if any(diverged(m.state) for m in active):
                break  # a member diverged: it leaves at this epoch boundary
        active = _leave(active)


def member_bytes(config: Mapping[str, Any]) -> int:
    """Device memory one member takes in a fused step: per parameter its weight, gradient, two optimizer
    moments and stacked copy; per example of a batch each layer's output (the input's too) and its gradient."""
    input_shape, num_classes = data_shape(config["data"])
    model = plan_model(config["model"], input_shape, num_classes)
    elements = math.prod(input_shape) + sum(math.prod(layer.output_shape) for layer in model.layers)
    return FLOAT_BYTES * (5 * model.parameters + 2 * int(config["trainer"]["batch_size"]) * elements)


def members_per_step(config: Mapping[str, Any], device: torch.device, gpu_share: float = 1.0) -> int:
    """How many members of `config`'s pack one fused step holds: all on a CPU; on a GPU those whose
    `member_bytes` fit MEMORY_USE of the free memory, at most the trial's share of the GPU's total."""
    if device.type != "cuda":
        return 2**31  # a CPU pack's size is resources.pack_size alone (benchmarks/pack_speed.py)
    free, total = torch.cuda.mem_get_info(device)
    budget = min(free, total * gpu_share) * MEMORY_USE
    return max(1, int(budget // member_bytes(config)))


def _leave(members: list[_Member]) -> list[_Member]:
    """Members whose training is over leave with their last report (diverged, or the final one); the rest stay."""
    staying = []
    for member in members:
        if diverged(member.state):
            report_divergence(member.state, member.report)
        elif member.done:
            _final(member)
        else:
            staying.append(member)
    return staying


def _epoch_done(member: _Member, stats: EpochStats) -> None:
    trainer = member.config["trainer"]
    number = len(member.state.history) + 1
    metrics = epoch_metrics(number, stats, member.state, LOSSES[trainer["loss"]], member.data, trainer)
    member.state.history.append(metrics)
    if number < member.epochs and not diverged(member.state):
        member.report(EpochReport(number, metrics, member.state.checkpoint, None))


def _final(member: _Member) -> None:
    trainer = member.config["trainer"]
    loss_fn = LOSSES[trainer["loss"]]
    final_image_report(member.state, loss_fn, member.data, trainer["test_batch_size"], member.phases, member.report)


class _Fused:
    """The members' stacked parameters and buffers, and their fused steps, epoch after epoch."""

    def __init__(self, members: list[_Member], capture: bool) -> None:
        first = members[0]
        self._members = members
        self._device = first.state.device
        self._capture = capture
        trainer = first.config["trainer"]
        self._batch_size = int(trainer["batch_size"])
        self._loss_fn: Loss = LOSSES[trainer["loss"]]
        self._crop: int | None = first.config["data"].get("crop")
        input_shape, num_classes = data_shape(first.config["data"])
        with torch.device("meta"):  # structure only: no memory, and no draw from torch's generator
            self._template = build_model(first.config["model"], input_shape, num_classes)
        self._mask_names = [name for name, module in self._template.named_modules() if isinstance(module, Dropout)]
        planned = [layer for layer in plan_model(first.config["model"], input_shape, num_classes).layers]
        self._mask_shapes = [
            (layer.input_shape[0], 1, 1) if layer.type == "dropout2d" else layer.input_shape
            for layer in planned
            if layer.type in ("dropout", "dropout2d")
        ]
        self._params = _stacked(members, lambda model: dict(model.named_parameters()))
        self._buffers = _stacked(members, lambda model: {n: b for n, b in model.named_buffers() if b is not None})
        # The members' data: one (D, N, C, H, W) tensor (N equal: the pack key) and each member's row in it.
        datasets = list({id(m.data): m.data for m in members}.values())
        rows = [next(i for i, d in enumerate(datasets) if d is m.data) for m in members]
        self._x = torch.stack([d.train.x for d in datasets]) if len(datasets) > 1 else datasets[0].train.x.unsqueeze(0)
        self._y = torch.stack([d.train.y for d in datasets]) if len(datasets) > 1 else datasets[0].train.y.unsqueeze(0)
        self._rows = torch.tensor(rows, device=self._device)[:, None]  # (M, 1)
        count = self._x.shape[1]
        self._count = count
        m = len(members)
        self._orders = torch.zeros((m, count), dtype=torch.int64, device=self._device)
        self._offsets = torch.zeros((m, count, 2), dtype=torch.int64, device=self._device)
        self._step = torch.zeros(1, dtype=torch.int64, device=self._device)
        self._loss_sum = torch.zeros(m, device=self._device)
        self._correct = torch.zeros((m, -(-count // self._batch_size)), dtype=torch.int64, device=self._device)
        self._grad = vmap(grad(self._loss, has_aux=True))
        self._graph: Any = None
        self._stream: Any = torch.cuda.Stream(self._device) if capture else None
        self._eager_steps = 0

    def _loss(self, params: dict[str, torch.Tensor], buffers: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> Any:
        """One member's batch loss (what its gradients are of), with the loss and output as aux."""
        output = functional_call(self._template, (params, buffers), (x,))
        loss = self._loss_fn(output, y)
        return loss, (loss, output)

    def epoch(self) -> list[EpochStats]:
        """One epoch of every member; each member's stats (its share of the pass's seconds)."""
        if self._stream is None:
            return self._epoch()
        self._stream.wait_stream(torch.cuda.current_stream(self._device))
        with torch.cuda.stream(self._stream):
            stats = self._epoch()
        torch.cuda.current_stream(self._device).wait_stream(self._stream)
        return stats

    def _epoch(self) -> list[EpochStats]:
        size, count = self._batch_size, self._count
        side = (self._x.shape[-2], self._x.shape[-1])
        started = time.perf_counter()
        for row, member in enumerate(self._members):
            member.state.model.train()
            order, offsets = draw_epoch(member.state, count, self._crop, side)
            self._orders[row].copy_(order, non_blocking=True)
            if offsets is not None:
                self._offsets[row].copy_(offsets, non_blocking=True)
        self._step.zero_()
        self._loss_sum.zero_()
        full = count // size
        for batch in range(full):
            if self._graph is not None:
                self._graph.replay()
                continue
            self._eager(batch * size, size)
            if self._capture and self._eager_steps >= EAGER_WARMUP_STEPS and batch + 1 < full:
                self._graph = captured_or_none(self._captured)
                self._capture = self._graph is not None
        if count % size:
            self._eager(full * size, count % size)
        correct = self._correct.cpu()  # the epoch's one synchronisation
        losses = self._loss_sum.cpu()
        seconds = time.perf_counter() - started
        forward = self._forward_seconds() * -(-count // size)
        share = len(self._members)  # members sharing the pass: each is charged its share
        sizes = torch.tensor([size] * full + ([count % size] if count % size else []))
        return [
            EpochStats(
                loss=losses[row].item() / count,
                accuracy=correct[row].sum().item() / count,
                seconds=seconds / share,
                forward_seconds=forward / share,
                backward_seconds=max(0.0, seconds - forward) / share,
                batch_sizes=sizes,
                batch_correct=correct[row],
            )
            for row in range(len(self._members))
        ]

    def _masks(self, batch: int) -> dict[str, torch.Tensor]:
        """Every member's dropout masks for a batch, each drawn with its own p and noise generator, in
        the order its forward pass alone would draw them."""
        return {
            f"{name}.mask": torch.stack(
                [m.dropouts[k].draw((batch, *shape), self._device, m.state.noise) for m in self._members]
            )
            for k, (name, shape) in enumerate(zip(self._mask_names, self._mask_shapes, strict=True))
        }

    def _body(self, positions: torch.Tensor, assign: bool) -> None:
        """One fused step on the examples at `positions` of each member's order (device work only; capturable).

        `assign`: hand each member its slice of the gradients (eager steps, and once when capturing)."""
        index = self._orders.index_select(1, positions)  # (M, B) example ids, each member its own
        inputs, targets = self._x[self._rows, index], self._y[self._rows, index]
        if self._crop:
            m, b = index.shape
            offsets = self._offsets.gather(1, index[..., None].expand(m, b, 2))
            inputs = crop_at(inputs.flatten(0, 1), offsets.flatten(0, 1), self._crop).unflatten(0, (m, b))
        masks = self._masks(len(positions))
        grads, (loss, output) = self._grad(self._params, {**self._buffers, **masks}, inputs, targets)
        if assign:
            for row, member in enumerate(self._members):
                for name, parameter in member.state.model.named_parameters():
                    parameter.grad = grads[name][row]
        for member in self._members:
            member.state.optimizer.step()
        self._loss_sum.add_(loss.detach() * len(positions))
        self._correct.index_copy_(1, self._step, (output.detach().argmax(-1) == targets).sum(-1, keepdim=True))
        self._step.add_(1)

    def _eager(self, start: int, length: int) -> None:
        self._body(torch.arange(start, start + length, device=self._device), assign=True)
        self._eager_steps += 1

    def _captured(self) -> Any:
        """The full batch's fused step as one CUDA graph (capture runs nothing: no batch is skipped)."""
        graph = torch.cuda.CUDAGraph()
        for member in self._members:
            graph.register_generator_state(member.state.noise)  # each member's dropout advances per replay
        with torch.cuda.graph(graph, stream=self._stream):
            self._body(self._step * self._batch_size + torch.arange(self._batch_size, device=self._device), assign=True)
        return graph

    def _forward_seconds(self) -> float:
        """One inference-mode fused forward of a full batch (first examples of each member's data), timed."""
        inputs = self._x[self._rows.squeeze(1), : self._batch_size]
        if self._crop:
            inputs = inputs[..., : self._crop, : self._crop]
        self._template.eval()
        try:
            with torch.no_grad():
                _synchronize(self._device)
                started = time.perf_counter()
                vmap(lambda p, b, x: functional_call(self._template, (p, b), (x,)))(self._params, self._buffers, inputs)
                _synchronize(self._device)
                return time.perf_counter() - started
        finally:
            self._template.train()


def _stacked(members: list[_Member], named: Any) -> dict[str, torch.Tensor]:
    """The members' tensors of each name stacked (M, …); each member's module then aliases its slice."""
    tensors = [named(member.state.model) for member in members]
    stacked = {name: torch.stack([t[name].detach() for t in tensors]) for name in tensors[0]}
    for row, member in enumerate(members):
        model = member.state.model
        for name in stacked:
            owner, _, attribute = name.rpartition(".")
            module = model.get_submodule(owner)
            current = getattr(module, attribute)
            if isinstance(current, torch.nn.Parameter):
                current.data = stacked[name][row]  # the same Parameter object: its optimizer state stays its own
            else:
                setattr(module, attribute, stacked[name][row])
    return stacked


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
