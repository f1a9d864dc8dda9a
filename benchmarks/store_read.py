"""A study's trial runs read two ways from one store, side by side: MLflow's search (paged, as a tracking
server is read) and the store's tables (`sweeps.record.table_read`, as a SQL store is read).

    python benchmarks/scale.py --sizes 10000 --epochs 0 --keep /tmp/kept      # a finished 10,000-trial study
    python benchmarks/store_read.py sqlite:////tmp/kept/scale10000/mlflow.db scale10000 [--repeats 3]

Each repeat times both reads in turn in this one process (MLflow imported and the store opened first, so
neither pays for them), checks that they found the same runs with the same tags, params and metrics, and
prints the seconds of each, the best of the repeats and their ratio.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from typing import Any

from sweeps.record.store import client_for, search_all
from sweeps.record.table_read import read_runs
from sweeps.record.tags import RUN_ROLE, TRIAL_ROLE


def timed(read: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    found = read()
    return time.perf_counter() - started, found


def same_runs(searched: list[Any], read: list[Any]) -> bool:
    """Whether both reads found the same runs, in the same order, with the same tags, params and metrics."""
    return [run.info.run_id for run in searched] == [run.info.run_id for run in read] and all(
        (a.data.tags, a.data.params, a.data.metrics) == (b.data.tags, b.data.params, b.data.metrics)
        for a, b in zip(searched, read, strict=True)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("uri", help="the MLflow store, an SQL database: sqlite:////path/mlflow.db, postgresql://…")
    parser.add_argument("study", help="the study (its experiment's name)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    client = client_for(args.uri)
    experiment = client.get_experiment_by_name(args.study)
    if experiment is None:
        raise SystemExit(f"{args.uri} has no experiment {args.study!r}")
    ways: dict[str, Callable[[], Any]] = {
        "search": lambda: search_all(client, [experiment.experiment_id], f"tags.`{RUN_ROLE}` = '{TRIAL_ROLE}'"),
        "tables": lambda: read_runs(args.uri, experiment.experiment_id, RUN_ROLE, TRIAL_ROLE),
    }
    print(f"load {os.getloadavg()[0]:.1f} · {os.cpu_count()} cores · {args.uri} · {args.study}")
    best = {name: float("inf") for name in ways}
    for repeat in range(1, args.repeats + 1):
        found = {}
        for name, read in ways.items():
            seconds, found[name] = timed(read)
            best[name] = min(best[name], seconds)
        if not same_runs(found["search"], found["tables"]):
            raise SystemExit(f"repeat {repeat}: the two reads differ")
        print(
            f"  repeat {repeat}: {len(found['tables']):,} trial runs · search {best['search']:.2f} s · tables {best['tables']:.2f} s",
            flush=True,
        )
    print(f"load {os.getloadavg()[0]:.1f} at the end · best of {args.repeats}")
    print("| read | seconds | ratio |\n|---|---|---|")
    print(f"| trial runs: MLflow's search | {best['search']:.2f} | 1.00× |")
    print(f"| trial runs: the tables | {best['tables']:.2f} | {best['search'] / best['tables']:.1f}× as fast |")


if __name__ == "__main__":
    main()
