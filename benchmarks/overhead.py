"""What `sweep run` costs beyond training, side by side in one run: sweeps, a bare process pool, plain Ray Tune.

    python benchmarks/overhead.py [--repeats 2] [--epochs 2] [--smoke]

The work: `jhu_fashion` Q1–Q12 on the offline stand-ins at `trainer.epochs=2` — 20 unique trials — and the
same questions with every variant run twice (seeds 1 and 2): 40 unique trials. Each way runs as a whole
process, timed from its start to its exit, in a fresh working folder; the ways are interleaved, `--repeats`
times, and the minimum of each is reported (measure on an idle machine):

  sweeps     `sweep run` (plan, Ray, Tune, MLflow runs with their artifacts, a checkpoint every epoch);
  pool       the trial configs `sweep plan` composes, trained by `trainables` in a 2-process pool, nothing
             else: no Ray, no MLflow, no checkpoints (the floor);
  ray tune   a plain Ray Tune script as Tune's docs teach it: the 20 configs as a grid, each trial reporting
             its epochs, `MLflowLoggerCallback`, `reuse_actors=True`.

It prints each way's seconds, sweeps' ratio to the pool (goal ≤ 1.5×), and the marginal cost per trial:
the slope from 20 to 40 trials of sweeps, less the pool's (goal ≤ 0.15 s).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
QUESTIONS = ("q01", "q02", "q03", "q04", "q05", "q06", "q07", "q08", "q09", "q10", "q12")
GOAL_RATIO = 1.5  # sweeps / pool: the service's cost over a bare process pool
GOAL_MARGINAL = 0.15  # seconds per trial beyond the pool's

POOL = """
import json, sys, torch
from multiprocessing import get_context
def run(config):
    from trainables.image.loop import train
    from trainables.placement import Placement
    torch.set_num_threads(1)
    train(config, "data", lambda report: None, Placement(threads=1))
if __name__ == "__main__":
    configs = json.load(open(sys.argv[1]))
    with get_context("spawn").Pool(2) as pool:
        pool.map(run, configs, chunksize=1)
"""

RAY_TUNE = """
import json, sys
from ray import tune
from ray.air.integrations.mlflow import MLflowLoggerCallback

def trainable(config):
    from trainables.image.loop import train
    from trainables.placement import Placement
    train(config["trial"], "data", lambda report: tune.report({k: v for k, v in report.metrics.items()}), Placement(threads=1))

if __name__ == "__main__":
    configs = json.load(open(sys.argv[1]))
    tuner = tune.Tuner(
        tune.with_resources(trainable, {"cpu": 1}),
        param_space={"trial": tune.grid_search(configs)},
        tune_config=tune.TuneConfig(reuse_actors=True),
        run_config=tune.RunConfig(
            storage_path=sys.argv[2], callbacks=[MLflowLoggerCallback(tracking_uri=sys.argv[3], experiment_name="plain")], verbose=0
        ),
    )
    tuner.fit()
"""


def study_file(name: str, repeats: int) -> str:
    """Q1–Q12 of jhu_fashion, each question `repeats` times per variant (seeds 1, 2, …)."""
    import yaml

    text = (REPO / "conf" / "study" / "jhu_fashion.yaml").read_text()
    config = yaml.safe_load(text)
    questions = [q for q in config["study"]["questions"] if q["id"] in QUESTIONS]
    for question in questions:
        question["repeats"] = repeats
    config["study"].update(name=name, questions=questions)
    return "# @package _global_\n" + yaml.safe_dump(config, sort_keys=False)


def copy_of_repo(folder: Path, studies: dict[str, str]) -> Path:
    """The package and conf/ with extra studies (name → study file), so `sweep` finds them by name."""
    root = folder / "repo"
    for part in ("sweeps", "trainables", "conf"):
        shutil.copytree(REPO / part, root / part, ignore=shutil.ignore_patterns("__pycache__"))
    for name, text in studies.items():
        (root / "conf" / "study" / f"{name}.yaml").write_text(text)
    return root


def trial_configs(root: Path, study: str, overrides: list[str]) -> list[dict[str, Any]]:
    sys.path.insert(0, str(root))
    from sweeps.plan.build import plan_study

    plan = plan_study(study, overrides, conf_dir=root / "conf")
    sys.path.remove(str(root))
    return [trial.config for trial in plan.trials]


def timed(command: list[str], folder: Path, root: Path, work: Path | None = None) -> float:
    """Seconds of one whole process in a working folder (`work`, else a fresh one) with its own HOME and RAY_TMPDIR."""
    work = work or Path(tempfile.mkdtemp(prefix="ovw", dir=folder))
    ray_tmp = Path(tempfile.mkdtemp(prefix="ovr", dir="/tmp"))
    (work / "home").mkdir(exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(root), "HOME": str(work / "home"), "RAY_TMPDIR": str(ray_tmp)}
    started = time.perf_counter()
    result = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    shutil.rmtree(ray_tmp, ignore_errors=True)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command[:4])} … failed ({result.returncode}):\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--smoke", action="store_true", help="one repeat, 1 epoch, 20 trials only: the code paths")
    args = parser.parse_args()
    if args.smoke:
        args.repeats, args.epochs = 1, 1
    overrides = ["offline=true", f"trainer.epochs={args.epochs}"]
    with tempfile.TemporaryDirectory(prefix="overhead") as temporary:
        folder = Path(temporary)
        root = copy_of_repo(folder, {"overhead20": study_file("overhead20", 1), "overhead40": study_file("overhead40", 2)})
        sizes = (20,) if args.smoke else (20, 40)
        configs = {}
        for size in sizes:
            configs[size] = folder / f"configs{size}.json"
            configs[size].write_text(json.dumps(trial_configs(root, f"overhead{size}", overrides)))
        (folder / "pool.py").write_text(POOL)
        (folder / "ray_tune.py").write_text(RAY_TUNE)
        ways = {
            **{f"sweeps {n}": [sys.executable, "-m", "sweeps", "run", f"overhead{n}", *overrides] for n in sizes},
            **{f"pool {n}": [sys.executable, str(folder / "pool.py"), str(configs[n])] for n in sizes},
            "ray tune 20": [sys.executable, str(folder / "ray_tune.py"), str(configs[20]), str(folder / "tune"), f"sqlite:///{folder}/plain.db"],
        }
        times: dict[str, list[float]] = {way: [] for way in ways}
        for repeat in range(args.repeats):
            for way, command in ways.items():  # interleaved: machine noise hits every way alike
                times[way].append(timed(command, folder, root))
                print(f"  repeat {repeat + 1}: {way}: {times[way][-1]:.1f} s", flush=True)
    best = {way: min(values) for way, values in times.items()}
    print(f"\nload {os.getloadavg()[0]:.1f} · minimum of {args.repeats} · epochs {args.epochs}")
    print("| way | trials | seconds |\n|---|---|---|")
    for way, seconds in best.items():
        name, trials = way.rsplit(" ", 1)
        print(f"| {name} | {trials} | {seconds:.1f} |")
    ratio = best["sweeps 20"] / best["pool 20"]
    print(f"\nsweeps / pool (20 trials): {ratio:.2f}× (goal ≤ {GOAL_RATIO}×: {'PASS' if ratio <= GOAL_RATIO else 'FAIL'})")
    print(f"ray tune / pool (20 trials): {best['ray tune 20'] / best['pool 20']:.2f}×")
    if 40 in sizes:
        sweeps_slope = (best["sweeps 40"] - best["sweeps 20"]) / 20
        pool_slope = (best["pool 40"] - best["pool 20"]) / 20
        marginal = sweeps_slope - pool_slope
        print(f"per added trial: sweeps {sweeps_slope:.3f} s, pool {pool_slope:.3f} s → marginal cost {marginal:.3f} s "
              f"(goal ≤ {GOAL_MARGINAL} s: {'PASS' if marginal <= GOAL_MARGINAL else 'FAIL'})")


if __name__ == "__main__":
    main()
