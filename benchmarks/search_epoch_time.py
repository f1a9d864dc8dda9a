"""Seconds per training epoch of each model Q13's search can pick, to state the search's budget.

    python benchmarks/search_epoch_time.py [--size 6000] [--threads 2 [1 …]] [--batch-size 128]

Each candidate (the `model: choice(…)` of jhu_fashion's q13) trains one epoch of `--size` synthetic
28×28 images through the sweeps trainable with Adam, side by side in one process; the table gives the
measured seconds and the same scaled to a 60,000-image Fashion-MNIST epoch, and the ratio to the
fastest candidate. With several `--threads`, each candidate trains once at each count, interleaved, and
the last column is its speed-up from the first count to the last (what a search's last sample gains
when it takes the cores the others leave: sweeps/run/cores.py).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from sweeps.config.compose import Composer
from sweeps.plan.build import plan_study, trial_config
from trainables.callback import EpochReport
from trainables.image.loop import train
from trainables.placement import Placement

FASHION_TRAIN = 60_000  # images in a Fashion-MNIST training epoch


def candidates() -> list[str]:
    (question,) = [q for q in plan_study("jhu_fashion", questions=["q13"]).questions if q.id == "q13"]
    expression = question.config.search.space["model"]  # type: ignore[union-attr]
    return [name.strip() for name in expression.removeprefix("choice(").removesuffix(")").split(",")]


def epoch_seconds(model: str, size: int, threads: int, batch_size: int) -> float:
    overrides = ["data=synthetic", f"data.size={size}", "data.test_size=500", "trainer.epochs=1", f"trainer.batch_size={batch_size}"]
    composer = Composer("jhu_fashion", overrides)
    plan = plan_study("jhu_fashion", overrides, questions=["q01"])
    config, _ = composer.variant({"optim": "adam", "model": model}, model)
    trial = trial_config(config, plan.runtime, model).model_dump(mode="json")
    reports: list[EpochReport] = []
    train(trial, plan.runtime.paths.data_root, reports.append, Placement(threads=threads))
    return reports[-1].metrics["epoch_seconds"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=6000, help="synthetic training images per epoch")
    parser.add_argument("--threads", type=int, nargs="+", default=[2], help="torch threads (the reference machine has 2 cores)")
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args(argv)
    models = candidates()
    times = {(model, threads): epoch_seconds(model, args.size, threads, args.batch_size) for model in models for threads in args.threads}
    print(f"{args.size} synthetic images, batch {args.batch_size}, Adam")
    print(f"{'model':<16} {'threads':>7} {'s/epoch':>8} {'s per 60k':>10} {'× fastest':>10}")
    for threads in args.threads:
        fastest = min(times[model, threads] for model in models)
        for model in models:
            seconds = times[model, threads]
            print(f"{model:<16} {threads:7d} {seconds:8.2f} {seconds * FASHION_TRAIN / args.size:10.1f} {seconds / fastest:10.2f}")
    first, last = args.threads[0], args.threads[-1]
    if first != last:
        for model in models:
            print(f"{model}: {first} → {last} threads: {times[model, first] / times[model, last]:.2f}× as fast")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
