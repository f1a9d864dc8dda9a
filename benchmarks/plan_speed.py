"""Seconds of `sweep plan STUDY` as a user runs it (a fresh process each time), against the 2 s goal.

    python benchmarks/plan_speed.py [--study jhu_fashion] [--repeats 5] [overrides …]

Each repeat runs `python -m sweeps plan STUDY offline=true …` in a new process, in a temporary working
folder (no MLflow store: the plan reads none), and takes the wall-clock time from start to exit. The
minimum and median of the repeats are printed with their ratio to the goal, and the heavy libraries
that the command imported (a plan must import neither torch nor Ray). Measure on an idle machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOAL_SECONDS = 2.0  # `sweep plan jhu_fashion` on the idle 2-core reference machine
HEAVY = ("torch", "ray", "mlflow", "sklearn", "torchvision")  # each costs a second or more to import
REPO = Path(__file__).resolve().parent.parent


def plan_seconds(study: str, overrides: list[str], folder: Path) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "sweeps", "plan", study, *overrides], cwd=folder, check=True, capture_output=True)
    return time.perf_counter() - started


def imported_heavy(study: str, overrides: list[str], folder: Path) -> list[str]:
    """The heavy libraries `sweep plan` imports, read from `python -X importtime`."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "sweeps", "plan", study, *overrides],
        cwd=folder, check=True, capture_output=True, text=True,
    )  # fmt: skip
    names = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}
    return [name for name in HEAVY if name in names]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", default="jhu_fashion")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("overrides", nargs="*", default=["offline=true"])
    args = parser.parse_args()
    env_path = os.environ.get("PYTHONPATH", "")
    os.environ["PYTHONPATH"] = f"{REPO}{os.pathsep}{env_path}" if env_path else str(REPO)
    with tempfile.TemporaryDirectory() as folder:
        plan_seconds(args.study, args.overrides, Path(folder))  # warm the file cache, as a second run would be
        times = [plan_seconds(args.study, args.overrides, Path(folder)) for _ in range(args.repeats)]
        heavy = imported_heavy(args.study, args.overrides, Path(folder))
    best, median = min(times), statistics.median(times)
    print(f"sweep plan {args.study} {' '.join(args.overrides)}: {args.repeats} runs, load {os.getloadavg()[0]:.1f}")
    print(f"  min {best:.2f} s · median {median:.2f} s · goal {GOAL_SECONDS:.1f} s · min/goal {best / GOAL_SECONDS:.2f}×")
    print(f"  heavy libraries imported: {', '.join(heavy) or 'none'}")
    print(f"  {'PASS' if best <= GOAL_SECONDS and not {'torch', 'ray'} & set(heavy) else 'FAIL'}")


if __name__ == "__main__":
    main()
