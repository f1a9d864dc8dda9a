"""What a study of N tiny trials costs per trial as N grows, side by side with a bare process pool.

    python benchmarks/scale.py [--sizes 100 1000 10000] [--epochs 1] [--plan-only] [--keep FOLDER]
    python benchmarks/scale.py --again FOLDER [--sizes 100 10000] [--epochs 0] [--repeats 3]

The trial: the cloudmesh MLP (flatten → dense 64 → dense 10, 51k parameters) on the synthetic data set cut to
1,000 training and 200 test images, `trainer.epochs` epochs (default 1), batch 100, `repeats: N` (N seeds of
one variant: N unique trials, packed 16 to a Ray trial by `pack_size: auto`). Every size trains the same
trial for real; `--epochs 0` makes each one evaluation-only (its untrained weights on the test set), the
cheap way to measure the machinery at 10,000. For each N, in a fresh working folder:

  run      `sweep run` of the study (plan, Ray, Tune, MLflow runs with artifacts, checkpoints);
  re-run   `sweep run` again: every trial finished, nothing to train;
  plan     `sweep plan` with the finished store;
  report   `sweep report`;
  table    `sweeps.load(STUDY).table(QUESTION)` in a fresh Python process;
  pool     the same trial configs trained by `trainables` in a 2-process pool, nothing else (the floor).

`--plan-only` times `sweep plan` of each size before any run (no store), in a minute or two. `--again`
times the steps that read a finished store (re-run, plan, report, table) once more in a folder that
`--keep` left, with this checkout's code, best of `--repeats`: a change to them measured in minutes.
It prints each as seconds and seconds per trial, the bytes per trial of the MLflow store, the run
artifacts and the checkpoints, and the goals (2-core machine): a trial's run cost at the largest N within
1.5× of its cost at the smallest; plan ≤ 5 s, re-run ≤ 15 s and report ≤ 60 s at 10,000.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from overhead import POOL, REPO, copy_of_repo, timed, trial_configs

QUESTION = "tiny"
OVERRIDES = ["offline=true", "data.size=1000", "data.test_size=200", "trainer.batch_size=100"]
GOAL_FLAT = 1.5  # run seconds per trial at the largest size / at the smallest
GOALS_10K = {"plan": 5.0, "re-run": 15.0, "report": 60.0}  # seconds at 10,000 trials
TABLE = "import sys, sweeps; sweeps.load(sys.argv[1], sys.argv[2:]).table('tiny')"


def study_file(name: str, repeats: int) -> str:
    return f"""# @package _global_
defaults:
  - override /data: synthetic
  - override /model: cloudmesh_mlp
  - override /optim: adam
study:
  name: {name}
  title: {repeats} seeds of one tiny trial
  questions:
    - id: {QUESTION}
      text: The cloudmesh MLP on 1,000 synthetic images, {repeats} seeds.
      repeats: {repeats}
      variants:
        - {{}}
"""


def folder_bytes(path: Path) -> int:
    """The bytes of a file, or of every file under a folder (0: neither exists)."""
    if path.is_file():
        return path.stat().st_size
    return sum(file.stat().st_size for file in path.rglob("*") if file.is_file())


def measure(size: int, folder: Path, root: Path, overrides: list[str]) -> dict[str, float]:
    """Seconds of each step for the study of `size` trials, and the bytes of what it left."""
    study = f"scale{size}"
    work = folder / study
    work.mkdir()
    configs = folder / f"{study}.json"
    configs.write_text(json.dumps(trial_configs(root, study, overrides)))
    sweep = [sys.executable, "-m", "sweeps"]
    seconds = {
        "run": timed([*sweep, "run", study, *overrides], folder, root, work),
        "re-run": timed([*sweep, "run", study, *overrides], folder, root, work),
        "plan": timed([*sweep, "plan", study, *overrides], folder, root, work),
        "report": timed([*sweep, "report", study, *overrides], folder, root, work),
        "table": timed([sys.executable, "-c", TABLE, study, *overrides], folder, root, work),
        "pool": timed([sys.executable, str(folder / "pool.py"), str(configs)], folder, root),
    }
    sizes = {
        "store": folder_bytes(work / "mlflow.db"),
        "artifacts": folder_bytes(work / "mlartifacts"),
        "checkpoints": folder_bytes(work / "sweeps_storage" / study),
    }
    return {**seconds, **{f"{kind} bytes": float(value) for kind, value in sizes.items()}}


STEPS = ("run", "pool", "re-run", "plan", "report", "table")


def row(size: int, measured: dict[str, float]) -> str:
    cells = [f"{measured[step]:.1f} ({measured[step] / size:.4f})" for step in STEPS]
    per_trial = ", ".join(f"{measured[f'{kind} bytes'] / size / 1000:.1f}" for kind in ("store", "artifacts", "checkpoints"))
    return f"| {size:,} | " + " | ".join(cells) + f" | {measured['run'] / measured['pool']:.2f}× | {per_trial} |"


AGAIN = ("re-run", "plan", "report", "table")


def again(folder: Path, sizes: list[int], overrides: list[str], repeats: int) -> None:
    """The steps of `AGAIN`, timed again in each finished study that `--keep` left in `folder`."""
    root = folder / "repo"
    for part in ("sweeps", "trainables"):  # this checkout's code; the studies' configs stay
        shutil.rmtree(root / part)
        shutil.copytree(REPO / part, root / part, ignore=shutil.ignore_patterns("__pycache__"))
    print(f"load {os.getloadavg()[0]:.1f} · {os.cpu_count()} cores · best of {repeats}")
    print("| trials | " + " | ".join(f"{step} s" for step in AGAIN) + " |\n|---" + "|---" * len(AGAIN) + "|", flush=True)
    best: dict[int, dict[str, float]] = {}
    for size in sizes:
        study, work = f"scale{size}", folder / f"scale{size}"
        commands = {
            "re-run": [sys.executable, "-m", "sweeps", "run", study, *overrides],
            "plan": [sys.executable, "-m", "sweeps", "plan", study, *overrides],
            "report": [sys.executable, "-m", "sweeps", "report", study, *overrides],
            "table": [sys.executable, "-c", TABLE, study, *overrides],
        }
        best[size] = {step: min(timed(commands[step], folder, root, work) for _ in range(repeats)) for step in AGAIN}
        print(f"| {size:,} | " + " | ".join(f"{best[size][step]:.1f}" for step in AGAIN) + " |", flush=True)
    print(f"load {os.getloadavg()[0]:.1f} at the end")
    if 10000 in best:
        for step, goal in GOALS_10K.items():
            verdict = "PASS" if best[10000][step] <= goal else "FAIL"
            print(f"{step} at 10,000: {best[10000][step]:.1f} s (goal ≤ {goal:.0f} s: {verdict})")


def plan_only(sizes: list[int], overrides: list[str]) -> None:
    """Seconds of `sweep plan` of each size with no store yet: the planning alone, in minutes in all."""
    print(f"load {os.getloadavg()[0]:.1f} · {os.cpu_count()} cores\n| trials | plan s | s/trial |\n|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="scale") as temporary:
        folder = Path(temporary)
        root = copy_of_repo(folder, {f"scale{size}": study_file(f"scale{size}", size) for size in sizes})
        for size in sizes:
            seconds = timed([sys.executable, "-m", "sweeps", "plan", f"scale{size}", *overrides], folder, root)
            print(f"| {size:,} | {seconds:.1f} | {seconds / size:.5f} |", flush=True)
    if 10000 in sizes:
        print(f"goal: plan of 10,000 ≤ {GOALS_10K['plan']:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000], help="trial counts (default: 100 1000 10000)")
    parser.add_argument("--epochs", type=int, default=1, help="epochs per trial; 0: evaluation-only trials")
    parser.add_argument("--plan-only", action="store_true", help="only `sweep plan` of each size, before any run (no store)")
    parser.add_argument("--keep", type=Path, help="work in this new folder and leave it: the stores, to look at or time again")
    parser.add_argument("--again", type=Path, help="time the steps that read a finished store again, in a folder --keep left")
    parser.add_argument("--repeats", type=int, default=3, help="with --again: times each step is timed (the best is shown)")
    args = parser.parse_args()
    overrides = [*OVERRIDES, f"trainer.epochs={args.epochs}"]
    if args.plan_only:
        plan_only(args.sizes, overrides)
        return
    if args.again:
        again(args.again, args.sizes, overrides, args.repeats)
        return
    results: dict[int, dict[str, float]] = {}
    print(f"load {os.getloadavg()[0]:.1f} · {os.cpu_count()} cores · epochs {args.epochs}")
    header = " | ".join(f"{step} s (s/trial)" for step in STEPS)
    print(f"| trials | {header} | run / pool | store, artifacts, checkpoints (kB/trial) |")
    print("|---" * (len(STEPS) + 3) + "|", flush=True)
    if args.keep:
        args.keep.mkdir(parents=True)  # a new folder: no earlier study's store in it
    with contextlib.nullcontext(str(args.keep)) if args.keep else tempfile.TemporaryDirectory(prefix="scale") as temporary:
        folder = Path(temporary)
        root = copy_of_repo(folder, {f"scale{size}": study_file(f"scale{size}", size) for size in args.sizes})
        (folder / "pool.py").write_text(POOL)
        for size in args.sizes:  # each row printed once measured: a long run's first rows survive a stop
            results[size] = measure(size, folder, root, overrides)
            print(row(size, results[size]), flush=True)
    print(f"load {os.getloadavg()[0]:.1f} at the end")
    smallest, largest = min(results), max(results)
    if largest > smallest:
        flat = (results[largest]["run"] / largest) / (results[smallest]["run"] / smallest)
        verdict = "PASS" if flat <= GOAL_FLAT else "FAIL"
        print(f"\nrun s/trial at {largest:,} / at {smallest:,}: {flat:.2f}× (goal ≤ {GOAL_FLAT}×: {verdict})")
    if 10000 in results:
        for step, goal in GOALS_10K.items():
            verdict = "PASS" if results[10000][step] <= goal else "FAIL"
            print(f"{step} at 10,000: {results[10000][step]:.1f} s (goal ≤ {goal:.0f} s: {verdict})")


if __name__ == "__main__":
    main()
