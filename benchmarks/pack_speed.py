"""Whether a fused pack trains faster than its members alone on this machine's CPU, per kind of model.

    python benchmarks/pack_speed.py [--threads 1] [--repeats 2] [--epochs 1] [--smoke]

For each workload — a pack that `sweep run` would form from a real study (`resources.pack_size=16` on the
CPU): the JHU conv net (jhu_fashion Q3–Q5), SYDE's model A MLP (syde522 Q1, ten seeds), its softmax MLP
at 8, 64 and 256 hidden units (Q6) and its CNN on colour images (Q9) — the members are trained twice, side by side, on the same thread
count: one after another, each alone (`trainables.image.loop.train`), and as one pack
(`trainables.image.pack.train_pack`). Interleaved `--repeats` times; the minimum of each is reported as
seconds per model-epoch, with the ratio alone / packed (> 1: the pack is faster). `resources.pack_size:
auto` on the CPU (sweeps/plan/packs.py) follows what this prints; measure on an idle machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

WORKLOADS: dict[str, tuple[str, list[str], Callable[[dict[str, Any]], bool]]] = {
    # name → (study, questions, which of their trials): each a pack `sweep run` forms
    "JHU conv net (jhu_fashion q03–q05)": ("jhu_fashion", ["q03", "q04", "q05"], lambda c: True),
    "MLP, model A (syde522 q01)": ("syde522", ["q01"], lambda c: True),
    **{
        f"MLP, {hidden} hidden (syde522 q06)": ("syde522", ["q06"], lambda c, h=hidden: c["model"].get("hidden") == h)
        for hidden in (8, 64, 256)
    },
    "CNN on colour (syde522 q09)": ("syde522", ["q09"], lambda c: True),
}


def members(study: str, questions: list[str], keep: Callable[[dict[str, Any]], bool], epochs: int, limit: int) -> list[dict[str, Any]]:
    """The first pack `sweep run` would form of these trials (packs as on a CPU with pack_size=limit)."""
    from sweeps.plan.build import plan_study
    from sweeps.plan.packs import form_packs
    from trainables.kinds import kind

    plan = plan_study(study, ["offline=true", f"trainer.epochs={epochs}"], questions=questions)
    trials = [trial for trial in plan.trials if keep(trial.config)]
    packs = form_packs(trials, limit, lambda trial: kind("image").pack_key(trial.config))
    return [member.config for member in max(packs, key=lambda pack: len(pack.members)).members]


def alone(configs: list[dict[str, Any]], threads: int) -> float:
    from trainables.image.loop import train
    from trainables.placement import Placement

    started = time.perf_counter()
    for config in configs:
        train(config, "data", lambda report: None, Placement(threads=threads))
    return time.perf_counter() - started


def packed(configs: list[dict[str, Any]], threads: int) -> float:
    from trainables.image.pack import train_pack
    from trainables.placement import Placement

    started = time.perf_counter()
    train_pack(configs, "data", [lambda report: None] * len(configs), Placement(threads=threads), [None] * len(configs))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads: 1, as each Ray trial gets on the CPU")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--limit", type=int, default=16, help="the most members of a pack")
    parser.add_argument("--smoke", action="store_true", help="one repeat and four members: the code paths")
    args = parser.parse_args()
    if args.smoke:
        args.repeats, args.limit = 1, 4
    rows = []
    for name, (study, questions, keep) in WORKLOADS.items():
        configs = members(study, questions, keep, args.epochs, args.limit)
        model_epochs = sum(config["trainer"]["epochs"] for config in configs)
        alone([configs[0]], args.threads)  # data generated and cached, kernels warm, before any timing
        times: dict[str, list[float]] = {"alone": [], "packed": []}
        for _ in range(args.repeats):
            times["alone"].append(alone(configs, args.threads))
            times["packed"].append(packed(configs, args.threads))
        solo, pack = min(times["alone"]) / model_epochs, min(times["packed"]) / model_epochs
        rows.append((name, len(configs), solo, pack))
        print(f"  {name}: {len(configs)} members, alone {solo:.3f} s, packed {pack:.3f} s per model-epoch", flush=True)
    print(f"\nCPU, {args.threads} thread(s), load {os.getloadavg()[0]:.1f}, minimum of {args.repeats}\n")
    print("| workload | members | alone s / model-epoch | packed s / model-epoch | alone / packed |\n|---|---|---|---|---|")
    for name, count, solo, pack in rows:
        print(f"| {name} | {count} | {solo:.3f} | {pack:.3f} | {solo / pack:.2f}× |")


if __name__ == "__main__":
    main()
