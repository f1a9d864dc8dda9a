"""`jhu_fashion` Q1–Q12 at full size on one GPU, three ways side by side in one run.

    python benchmarks/gpu_study.py [--size 60000] [--test-size 10000] [--processes 4] [--json FILE]
    python benchmarks/gpu_study.py --smoke        # seconds, on the CPU if there is no GPU: the code paths only

The 20 unique trials of Q1–Q12 (220 model-epochs), composed by `sweeps.plan.build` exactly as `sweep run`
composes them, each with its data set replaced by synthetic 28×28 images (`--size` train, `--test-size`
test: Fashion-MNIST's sizes), trained through `trainables/` in `--processes` worker processes at a time
(as Ray runs trials), three ways:

  solo      every trial alone, every step launched eagerly (`resources.capture=false`, pack size 1);
  captured  every trial alone, each full batch's step replayed from a CUDA graph (pack size 1);
  packs     trials that share a pack key fused into packs (`sweeps.plan.packs`, `resources.pack_size=auto`),
            each pack's step captured as one CUDA graph; the others captured alone.

For each way: the wall time from the first trial's start to the last one's end (the workers are started
and warmed up before: process start and torch's import are not trial time), seconds per model-epoch,
and the ratio to the FLOP limit (the trials' forward+backward FLOPs, counted by torch's flop counter,
at the fp32 matrix rate measured on this GPU). Before that, two checks of the results on the GPU, in
deterministic mode: each epoch's losses and accuracies of a captured trial against the same trial
eager (equal, or the largest relative difference), and of pack members against the same trials alone.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

QUESTIONS = [f"q{n:02d}" for n in (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12)]  # there is no Q11
COMPARED = ("train_loss", "train_acc", "val_loss", "val_acc")
GOAL_TRIAL_SECONDS = 15.0  # Q1–Q12's 220 model-epochs on one H200
GOAL_PER_MODEL_EPOCH = 0.04  # seconds, the baseline net


@dataclass(frozen=True)
class Job:
    """What one worker process trains: one trial alone, or a pack of them."""

    configs: list[dict[str, Any]]
    capture: bool


def planned_configs(size: int, test_size: int) -> list[dict[str, Any]]:
    """Q1–Q12's trial configs as `sweep run jhu_fashion` composes them, on synthetic data of these sizes."""
    from sweeps.plan.build import plan_study

    plan = plan_study("jhu_fashion", ["offline=true"], questions=QUESTIONS)
    configs = []
    for trial in plan.trials:
        config = copy.deepcopy(trial.config)
        config["data"] = synthetic(size, test_size)
        configs.append(config)
    return configs


def synthetic(size: int, test_size: int) -> dict[str, Any]:
    return {
        "name": "synthetic", "source": "synthetic", "standin": "synthetic", "mean": 0.5, "std": 0.2887,
        "download": False, "validation_split": 0.0, "crop": None, "size": size, "test_size": test_size,
    }  # fmt: skip


# --- worker processes ------------------------------------------------------------------------------


def _warm(device: str) -> None:
    """Import torch and the trainables, and make the CUDA context, before any trial is timed."""
    import torch

    import trainables.image.loop  # noqa: F401  (imported now, not during the first trial)
    import trainables.image.pack  # noqa: F401

    if device == "cuda":
        torch.zeros(1, device="cuda")


def run_job(job: Job, device: str) -> list[list[dict[str, float]]]:
    """Train the job's trial(s); every report's metrics, per trial."""
    from trainables.image.loop import train
    from trainables.image.pack import train_pack
    from trainables.placement import Placement

    placement = Placement(device, threads=1, channels_last=device == "cpu", capture=job.capture)
    recorded: list[list[dict[str, float]]] = [[] for _ in job.configs]
    reports = [lambda report, into=into: into.append(dict(report.metrics)) for into in recorded]
    if len(job.configs) == 1:
        train(job.configs[0], "data", reports[0], placement)
    else:
        train_pack(job.configs, "data", reports, placement, [None] * len(job.configs))
    return recorded


def timed_jobs(jobs: Sequence[Job], processes: int, device: str) -> tuple[float, list[list[list[dict[str, float]]]]]:
    """Wall seconds from the first job's start to the last one's end, on warmed-up workers; every job's reports."""
    with ProcessPoolExecutor(processes, mp_context=get_context("spawn"), initializer=_warm, initargs=(device,)) as pool:
        list(pool.map(_warm, [device] * processes))  # every worker started and warm
        started = time.perf_counter()
        results = list(pool.map(run_job, jobs, [device] * len(jobs)))
        return time.perf_counter() - started, results


# --- the three ways --------------------------------------------------------------------------------


def packs_of(configs: list[dict[str, Any]], device: str) -> list[list[dict[str, Any]]]:
    """The configs in the packs `sweep run` forms for this device (`resources.pack_size=auto`)."""
    from sweeps.plan.packs import AUTO_PACK_SIZE, form_packs
    from sweeps.trials import PlannedTrial
    from trainables.kinds import kind

    trials = [PlannedTrial(str(i), config, str(i), 0, "") for i, config in enumerate(configs)]
    packs = form_packs(trials, AUTO_PACK_SIZE["cuda"], lambda trial: kind("image").pack_key(trial.config))
    return [[member.config for member in pack.members] for pack in packs]


def ways(configs: list[dict[str, Any]], device: str) -> dict[str, list[Job]]:
    # Longest first, as a scheduler that knows the cost would start them (the batch-32 trial is the tail).
    solo = sorted(configs, key=lambda c: -c["trainer"]["epochs"] * 60_000 / c["trainer"]["batch_size"])
    return {
        "solo": [Job([config], capture=False) for config in solo],
        "captured": [Job([config], capture=True) for config in solo],
        "packs": [Job(pack, capture=True) for pack in sorted(packs_of(configs, device), key=len, reverse=True)],
    }


# --- the FLOP limit --------------------------------------------------------------------------------


def training_flops(configs: list[dict[str, Any]], device: str) -> float:
    """Forward + backward FLOPs of every trial's every epoch, counted on one batch of each distinct model."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from trainables.image.losses import LOSSES
    from trainables.image.model import build_model
    from trainables.image.sources import data_shape

    total = 0.0
    per_example: dict[str, float] = {}
    for config in configs:
        key = json.dumps([config["model"], config["trainer"]["loss"]], sort_keys=True)
        if key not in per_example:
            shape, classes = data_shape(config["data"])
            model = build_model(config["model"], shape, classes).to(device)
            inputs = torch.randn((64, *shape), device=device)
            targets = torch.randint(0, classes, (64,), device=device)
            with FlopCounterMode(display=False) as counter:
                LOSSES[config["trainer"]["loss"]](model(inputs), targets).backward()
            per_example[key] = counter.get_total_flops() / 64
        total += per_example[key] * config["data"]["size"] * config["trainer"]["epochs"]
    return total


def fp32_rate(device: str) -> float:
    """FLOP/s of a large fp32 matrix product here (TF32 off: the trials compute in plain fp32)."""
    import torch

    if device != "cuda":
        return float("nan")
    torch.backends.cuda.matmul.allow_tf32 = False
    a, b = (torch.randn(8192, 8192, device="cuda") for _ in range(2))
    for _ in range(3):
        a @ b
    times = []
    for _ in range(10):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        a @ b
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end) / 1000.0)
    return 2 * 8192**3 / statistics.median(times)


# --- checks ----------------------------------------------------------------------------------------


def largest_difference(first: list[dict[str, float]], second: list[dict[str, float]]) -> float:
    """0.0 when every compared metric of every epoch is equal; else the largest relative difference."""
    worst = 0.0
    for a, b in zip(first, second, strict=True):
        for key in COMPARED:
            if a.get(key) != b.get(key):
                worst = max(worst, abs(a[key] - b[key]) / max(abs(a[key]), 1e-12))
    return worst


def checks(device: str, size: int) -> dict[str, float]:
    """Captured against eager for four kinds of trial, and pack members against themselves alone."""
    base = planned_configs(size, 1000)
    baseline = base[0]

    def variant(**changes: Any) -> dict[str, Any]:
        config = copy.deepcopy(baseline)
        config["trainer"]["epochs"] = 2
        for key, value in changes.items():
            node = config
            *path, leaf = key.split(".")
            for part in path:
                node = node[part]
            node[leaf] = value
        return config

    adam = {"name": "adam", "lr": 0.001, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.0, "amsgrad": False}
    bn = next(c for c in base if c["model"]["name"] == "jhu_bn")
    cases = {
        "baseline (SGD momentum, dropout)": variant(),
        "jhu_bn with Adam (batch norm)": {**copy.deepcopy(bn), "optim": adam, "trainer": {**bn["trainer"], "epochs": 2}},
        "batch 2048": variant(**{"trainer.batch_size": 2048}),
        "24×24 crops, Adadelta": variant(
            **{"data.crop": 24, "optim": {"name": "adadelta", "lr": 1.0, "rho": 0.9, "eps": 1e-6, "weight_decay": 0.0}}
        ),
    }
    results = {}
    for name, config in cases.items():
        eager = run_job(Job([config], capture=False), device)[0]
        captured = run_job(Job([config], capture=True), device)[0]
        results[f"captured vs eager: {name}"] = largest_difference(eager, captured)
    members = [variant(seed=s, **{"model.dropout": p}) for s, p in ((1, 0.5), (2, 0.0), (3, 0.9))] + [variant(optim=adam)]
    packed = run_job(Job(members, capture=True), device)
    for index, member in enumerate(members):
        alone = run_job(Job([member], capture=True), device)[0]
        results[f"pack member {index} vs alone"] = largest_difference(alone, packed[index])
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=60_000)
    parser.add_argument("--test-size", type=int, default=10_000)
    parser.add_argument("--processes", type=int, default=4, help="trials (or packs) at a time, as Ray would run them")
    parser.add_argument("--ways", default="solo,captured,packs")
    parser.add_argument("--no-checks", action="store_true")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: the code paths, not the speed")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    args = parser.parse_args()
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.smoke:
        args.size, args.test_size = 1024, 256
    print(f"device: {torch.cuda.get_device_name() if device == 'cuda' else 'cpu'} · torch {torch.__version__} · "
          f"{args.size} train / {args.test_size} test images · {args.processes} processes", flush=True)
    figures: dict[str, Any] = {"device": device, "size": args.size, "processes": args.processes}
    if not args.no_checks:
        figures["checks"] = checks(device, min(args.size, 8192))
        for name, difference in figures["checks"].items():
            print(f"  {name}: {'equal' if difference == 0.0 else f'max relative difference {difference:.2e}'}", flush=True)
    configs = planned_configs(args.size, args.test_size)
    model_epochs = sum(config["trainer"]["epochs"] for config in configs)
    limit = training_flops(configs, device) / fp32_rate(device)
    figures["model_epochs"], figures["flop_limit_seconds"] = model_epochs, limit
    print(f"{len(configs)} trials, {model_epochs} model-epochs; FLOP limit {limit:.2f} s at the measured fp32 rate", flush=True)
    rows = []
    for way, jobs in ways(configs, device).items():
        if way not in args.ways.split(","):
            continue
        seconds, _ = timed_jobs(jobs, args.processes, device)
        rows.append((way, len(jobs), seconds, seconds / model_epochs, seconds / limit))
        print(f"  {way}: {len(jobs)} Ray trials, {seconds:.1f} s", flush=True)
    figures["ways"] = [dict(zip(("way", "ray_trials", "seconds", "per_model_epoch", "over_flop_limit"), row, strict=True)) for row in rows]
    print("\n| way | Ray trials | wall s | s / model-epoch | × FLOP limit |\n|---|---|---|---|---|")
    for way, jobs, seconds, per, over in rows:
        print(f"| {way} | {jobs} | {seconds:.1f} | {per:.4f} | {over:.0f}× |")
    base = next((row for row in rows if row[0] == "solo"), None)
    if base is not None:
        print("\n" + " · ".join(f"{way}: {base[2] / seconds:.1f}× solo" for way, _, seconds, _, _ in rows[1:]))
    packs = next((row for row in rows if row[0] == "packs"), None)
    if packs is not None:
        print(f"goals: ≤ {GOAL_TRIAL_SECONDS:.0f} s of trial time ({'PASS' if packs[2] <= GOAL_TRIAL_SECONDS else 'FAIL'}), "
              f"≤ {GOAL_PER_MODEL_EPOCH} s per model-epoch ({'PASS' if packs[3] <= GOAL_PER_MODEL_EPOCH else 'FAIL'})")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
