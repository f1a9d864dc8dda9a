"""Seconds per training epoch of the baseline model, four ways side by side in one process.

    python benchmarks/epoch_speed.py [--size 60000] [--batch-size 256] [--threads 2] [--repeats 1] [--smoke]

Every way trains the jhu_baseline net (SGD lr 0.01 momentum 0.5, NLL loss) for one epoch on the
same seeded synthetic 28×28 images, from the same initial weights, with the same torch thread count:

  (a)  sweeps, channels_last  `trainables.image.loop.train` as a trial runs it (the default placement);
                              the time is the report's `epoch_seconds` (the training pass alone).
  (a2) sweeps, NCHW           the same with `Placement(channels_last=False)`.
  (b)  course                 the course-material way: a per-sample torchvision Dataset of uint8
                              images, PIL + ToTensor + Normalize per item, DataLoader(num_workers=0).
  (c)  bare                   the whole normalised tensor in memory, randperm, slice per batch,
                              forward/backward/step and nothing else.

Each measurement is preceded by an untimed warm-up of a few batches (oneDNN picks and caches its
kernels per shape on first use). With --repeats R the ways are interleaved (a, a2, b, c, a, a2, …)
so machine noise hits all of them alike, and the minimum of each way's R times is reported.
The PASS/FAIL lines are informational: the exit status is 0 whatever they say.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from omegaconf import OmegaConf
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader
from torchvision import transforms
from torchvision.datasets import VisionDataset

from trainables.callback import EpochReport
from trainables.image.data import InMemoryData, load_data
from trainables.image.loop import train
from trainables.image.model import build_model
from trainables.machine import machine_record
from trainables.placement import Placement

CONF = Path(__file__).resolve().parent.parent / "conf"

# Default threads: 2, the core count of the reference machine (not os.cpu_count(), so the numbers
# of two machines compare at the same thread count).
DEFAULT_THREADS = 2
SMOKE_SIZE = 2048  # examples: eight batches of 256, a few seconds for all four ways
TEST_SIZE = 1000  # examples: one test batch, so a sweeps run's (untimed) evaluation stays negligible
WARMUP_FULL_BATCHES = 2  # plus the epoch's last partial batch, if any: every batch shape is warmed

# The course material's MNIST normalisation (mean, std of MNIST's training pixels).
COURSE_MEAN = 0.1307
COURSE_STD = 0.3081

# Acceptance thresholds (ratios of seconds per epoch).
SWEEPS_OVER_BARE_MAX = 1.10
COURSE_OVER_SWEEPS_MIN = 2.0

@dataclass(frozen=True)
class Way:
    key: str
    label: str
    epoch_seconds: Callable[[], float]  # warms up (untimed), then times one epoch from a fresh model


class UInt8Images(VisionDataset):
    """Images held as uint8 (N, 28, 28), served one PIL image at a time, as torchvision's MNIST does."""

    def __init__(self, images: torch.Tensor, targets: torch.Tensor, transform: Callable[[Any], Any]) -> None:
        super().__init__(root=None, transform=transform)
        self.data = images
        self.targets = targets

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        img, target = self.data[index], int(self.targets[index])
        # Mode "L" is inferred from the 2-D uint8 array; passing mode="L" is deprecated since
        # Pillow 11.3, which is why torchvision's MNIST goes through a wrapper that drops it.
        return self.transform(Image.fromarray(img.numpy())), target


def trial_config(size: int, batch_size: int) -> dict[str, Any]:
    """The baseline trial config from conf/, as plain data: synthetic data, one epoch."""
    root = OmegaConf.create(
        {
            "seed": OmegaConf.load(CONF / "config.yaml")["seed"],
            "data": OmegaConf.load(CONF / "data" / "synthetic.yaml"),
            "model": OmegaConf.load(CONF / "model" / "jhu_baseline.yaml"),
            "optim": OmegaConf.load(CONF / "optim" / "sgd.yaml"),
            "trainer": OmegaConf.load(CONF / "trainer" / "default.yaml"),
        }
    )
    root.data.size = size
    root.data.test_size = TEST_SIZE
    root.trainer.epochs = 1
    root.trainer.batch_size = batch_size
    config = OmegaConf.to_container(root, resolve=True)  # resolves ${model.dropout}
    assert isinstance(config, dict)
    return config


def _fresh(config: dict[str, Any], data: InMemoryData) -> tuple[nn.Module, torch.optim.Optimizer]:
    """A model with `train`'s initial weights (same seed, same spec) and SGD as the course writes it.

    The config's other SGD keys (dampening, nesterov, weight_decay) are torch's defaults.
    """
    torch.manual_seed(config["seed"])
    model = build_model(config["model"], data.input_shape, data.num_classes)
    optim = config["optim"]
    optimizer = torch.optim.SGD(model.parameters(), lr=optim["lr"], momentum=optim["momentum"])
    return model, optimizer


def _sweeps_way(config: dict[str, Any], threads: int, channels_last: bool, warm: int) -> Callable[[], float]:
    placement = Placement(device="cpu", threads=threads, channels_last=channels_last)
    warm_config = {**config, "data": {**config["data"], "size": warm}}

    def run(cfg: dict[str, Any]) -> float:
        seconds: list[float] = []

        def report(epoch: EpochReport) -> None:
            seconds.append(epoch.metrics["epoch_seconds"])

        train(cfg, ".", report, placement)  # data root ".": the synthetic source reads no files
        return seconds[0]

    def epoch_seconds() -> float:
        run(warm_config)
        return run(config)

    return epoch_seconds


def _course_epoch(model: nn.Module, optimizer: torch.optim.Optimizer, loader: DataLoader[Any]) -> float:
    """The course material's training loop, without its logging; returns seconds."""
    started = time.perf_counter()
    model.train()
    for data, target in loader:
        optimizer.zero_grad()
        output = model(data)
        loss = F.nll_loss(output, target)
        loss.backward()
        optimizer.step()
    return time.perf_counter() - started


def _course_way(
    config: dict[str, Any], data: InMemoryData, images: torch.Tensor, batch_size: int, warm: int
) -> Callable[[], float]:
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((COURSE_MEAN,), (COURSE_STD,))])
    labels = data.train.y
    full = UInt8Images(images, labels, transform)
    warmup = UInt8Images(images[:warm], labels[:warm], transform)

    def epoch_seconds() -> float:
        # Each loader is made after _fresh seeds torch, so its shuffle order is the same every repeat.
        model, optimizer = _fresh(config, data)
        _course_epoch(model, optimizer, DataLoader(warmup, batch_size=batch_size, shuffle=True, num_workers=0))
        model, optimizer = _fresh(config, data)
        return _course_epoch(model, optimizer, DataLoader(full, batch_size=batch_size, shuffle=True, num_workers=0))

    return epoch_seconds


def _bare_epoch(
    model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor, batch_size: int, seed: int
) -> float:
    """Slice the in-memory tensor per batch and step; nothing else. Returns seconds."""
    started = time.perf_counter()
    model.train()
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    for start in range(0, len(y), batch_size):
        index = order[start : start + batch_size]
        optimizer.zero_grad()
        loss = F.nll_loss(model(x[index]), y[index])
        loss.backward()
        optimizer.step()
    return time.perf_counter() - started


def _bare_way(config: dict[str, Any], data: InMemoryData, batch_size: int, warm: int) -> Callable[[], float]:
    seed = config["seed"]
    x, y = data.train.x, data.train.y

    def epoch_seconds() -> float:
        _bare_epoch(*_fresh(config, data), x[:warm], y[:warm], batch_size, seed)
        return _bare_epoch(*_fresh(config, data), x, y, batch_size, seed)

    return epoch_seconds


def build_ways(config: dict[str, Any], threads: int) -> list[Way]:
    """The four ways on one data set: (c) gets the very tensor (a) loads, (b) its uint8 pixels."""
    batch_size = config["trainer"]["batch_size"]
    size = config["data"]["size"]
    warm = min(size, WARMUP_FULL_BATCHES * batch_size + size % batch_size)
    data = load_data(config["data"], ".", "cpu")
    # The same pixels unnormalised (mean 0, std 1: [0, 1)), as the uint8 the course's MNIST files hold.
    unit = load_data({**config["data"], "mean": 0.0, "std": 1.0}, ".", "cpu").train.x
    images = (unit * 255).round().to(torch.uint8).squeeze(1).contiguous()  # (N, 28, 28)
    return [
        Way("a", "sweeps, channels_last", _sweeps_way(config, threads, True, warm)),
        Way("a2", "sweeps, NCHW", _sweeps_way(config, threads, False, warm)),
        Way("b", "course (PIL+DataLoader)", _course_way(config, data, images, batch_size, warm)),
        Way("c", "bare in-memory", _bare_way(config, data, batch_size, warm)),
    ]


def measure(ways: Sequence[Way], repeats: int) -> dict[str, list[float]]:
    """Seconds per epoch of every way, `repeats` times, interleaved."""
    times: dict[str, list[float]] = {way.key: [] for way in ways}
    for _ in range(repeats):
        for way in ways:
            times[way.key].append(way.epoch_seconds())
    return times


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def report(ways: Sequence[Way], times: dict[str, list[float]], size: int) -> list[str]:
    best = {key: min(values) for key, values in times.items()}
    lines = [f"{'way':<30} {'s/epoch':>8} {'examples/s':>11}   all runs (s)"]
    for way in ways:
        seconds = best[way.key]
        runs = ", ".join(f"{value:.2f}" for value in times[way.key])
        tag = f"({way.key})"
        lines.append(f"{tag:<4} {way.label:<25} {seconds:8.2f} {size / seconds:11,.0f}   {runs}")
    sweeps_over_bare = best["a"] / best["c"]
    course_over_sweeps = best["b"] / best["a"]
    lines += [
        "",
        f"sweeps/bare            (a/c):  {sweeps_over_bare:.2f}×",
        f"sweeps NCHW/bare      (a2/c):  {best['a2'] / best['c']:.2f}×  (the loop's own overhead, same layout)",
        f"course/sweeps          (b/a):  {course_over_sweeps:.2f}×",
        f"channels_last on/off  (a/a2):  {best['a'] / best['a2']:.2f}×  (below 1: channels_last is faster)",
        "",
        f"sweeps ≤ {SWEEPS_OVER_BARE_MAX:.2f}× bare: {_verdict(sweeps_over_bare <= SWEEPS_OVER_BARE_MAX)}",
        f"course ≥ {COURSE_OVER_SWEEPS_MIN:g}× slower than sweeps: "
        f"{_verdict(course_over_sweeps >= COURSE_OVER_SWEEPS_MIN)}",
    ]
    return lines


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=60_000, help="training examples (default 60000)")
    parser.add_argument("--batch-size", type=int, default=256, help="examples per batch (default 256)")
    parser.add_argument(
        "--threads", type=int, default=DEFAULT_THREADS,
        help=f"torch intra-op threads for every way (default {DEFAULT_THREADS}: the reference machine's cores)",
    )
    parser.add_argument("--repeats", type=int, default=1, help="epochs timed per way; the minimum is kept (default 1)")
    parser.add_argument("--smoke", action="store_true", help=f"a quick run on {SMOKE_SIZE} examples (overrides --size)")
    args = parser.parse_args(argv)
    for name in ("size", "batch_size", "threads", "repeats"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.smoke:
        args.size = SMOKE_SIZE
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    config = trial_config(args.size, args.batch_size)
    batches = math.ceil(args.size / args.batch_size)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()} (os.cpu_count() {os.cpu_count()}), "
          f"cpu {machine_record()['cpu']}")
    print(f"{args.size} synthetic 1×28×28 examples, batch {args.batch_size} ({batches} batches), "
          f"model {config['model']['name']}, repeats {args.repeats} (min kept)")
    print()
    ways = build_ways(config, args.threads)
    # Other processes on the machine skew every number; the load averages show how busy it was.
    load_before = os.getloadavg()[0]
    times = measure(ways, args.repeats)
    print("\n".join(report(ways, times, args.size)))
    print(f"\nload average (1 min) before/after: {load_before:.2f}/{os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
