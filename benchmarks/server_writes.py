"""Writes per second a `sweep server` takes from many clients at once: a SQLite store against PostgreSQL.

    python benchmarks/server_writes.py [--writers 6] [--seconds 15] [--repeats 3] [--metrics 12]

Starts a PostgreSQL of its own (tests/helpers/postgres.py: Debian's `postgresql` package; as root it runs
as the `postgres` user) and two `sweep server`s side by side, one on a SQLite file and one on that
PostgreSQL, each with its one MLflow worker process as `sweep server` runs it. Then, for each store in
turn and `--repeats` times interleaved (so that a change in the machine's load falls on both), `--writers`
processes — a class's `sweep run` drivers — each log `--seconds` of epochs to a run of their own: one
`log_batch` of `--metrics` metrics per epoch, as sweeps/record/tracking.py logs an epoch. A failed write
(SQLite's "database is locked" comes back as an HTTP 500) is counted, not retried. Prints each repeat's
writes/s (batches the server accepted per second, all writers together) for both stores, the ratio
PostgreSQL / SQLite, and the median of each.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))  # helpers.postgres: the PostgreSQL the tests start

from helpers.loopback import free_port, wait_until_up  # noqa: E402
from helpers.postgres import missing, postgres_binaries, running_postgres  # noqa: E402

EXPERIMENT = "server_writes"


@dataclass(frozen=True)
class Round:
    accepted: int  # batches the server took
    failed: int  # batches it refused or failed
    seconds: float

    @property
    def per_second(self) -> float:
        return self.accepted / self.seconds


def writer(uri: str, seconds: float, metrics: int, start: Barrier, results: Any) -> None:
    """One client: a run of its own, then one batch of `metrics` metrics per step until `seconds` have passed."""
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"  # a failed write is counted, not hidden by backoff sleeps
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    run_id = client.create_run(client.get_experiment_by_name(EXPERIMENT).experiment_id).info.run_id
    accepted = failed = 0
    start.wait()
    began = time.perf_counter()
    step = 0
    while time.perf_counter() - began < seconds:
        step += 1
        now = int(time.time() * 1000)
        batch = [Metric(f"metric_{index}", float(step * index), now, step) for index in range(metrics)]
        try:
            client.log_batch(run_id, metrics=batch)
            accepted += 1
        except Exception:  # the server's refusal, whatever its kind, is what is counted
            failed += 1
    results.put((accepted, failed, time.perf_counter() - began))


def measure(uri: str, writers: int, seconds: float, metrics: int) -> Round:
    """`writers` processes writing to `uri` at once, released together once each has its run."""
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(writers), context.Queue()
    processes = [context.Process(target=writer, args=(uri, seconds, metrics, start, results)) for _ in range(writers)]
    for process in processes:
        process.start()
    rounds = [results.get(timeout=seconds + 600) for _ in processes]
    for process in processes:
        process.join()
    return Round(sum(r[0] for r in rounds), sum(r[1] for r in rounds), max(r[2] for r in rounds))


def start_server(store: str, folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`sweep server` on `store`, answering; the process (its own session) and its URL."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "sweeps", "server", "--port", str(port), "--backend-store-uri", store,
         "--artifacts-destination", str(folder / "artifacts")],
        cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    uri = f"http://127.0.0.1:{port}"
    wait_until_up(f"{uri}/health", server)
    from mlflow.tracking import MlflowClient

    MlflowClient(uri).create_experiment(EXPERIMENT)
    return server, uri


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writers", type=int, default=6, help="clients writing at once (default: 6)")
    parser.add_argument("--seconds", type=float, default=15.0, help="each round's length (default: 15)")
    parser.add_argument("--repeats", type=int, default=3, help="rounds per store, interleaved (default: 3)")
    parser.add_argument("--metrics", type=int, default=12, help="metrics per batch, as an epoch logs (default: 12)")
    args = parser.parse_args()
    reason = missing()
    binaries = postgres_binaries()
    if reason is not None or binaries is None:
        print(f"server_writes: {reason}", file=sys.stderr)
        return 2
    folder = Path(tempfile.mkdtemp(prefix="server-writes-"))
    servers: list[subprocess.Popen[bytes]] = []
    with running_postgres(binaries) as postgres:
        try:
            stores = {"SQLite": f"sqlite:///{folder / 'sqlite' / 'mlflow.db'}", "PostgreSQL": postgres.uri()}
            uris = {}
            for name, store in stores.items():
                (folder / name).mkdir()
                server, uris[name] = start_server(store, folder / name)
                servers.append(server)
            print(f"{args.writers} writers × {args.seconds:g} s, {args.metrics} metrics a batch, one MLflow worker per server; "
                  f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")  # fmt: skip
            print(f"{'repeat':>6}  {'SQLite writes/s':>15}  {'failed':>6}  {'PostgreSQL writes/s':>19}  {'failed':>6}  {'PG / SQLite':>11}")
            measured: dict[str, list[Round]] = {name: [] for name in uris}
            for repeat in range(1, args.repeats + 1):
                for name, uri in uris.items():
                    measured[name].append(measure(uri, args.writers, args.seconds, args.metrics))
                sqlite, pg = measured["SQLite"][-1], measured["PostgreSQL"][-1]
                print(f"{repeat:>6}  {sqlite.per_second:>15.1f}  {sqlite.failed:>6}  {pg.per_second:>19.1f}  {pg.failed:>6}  "
                      f"{pg.per_second / sqlite.per_second:>10.2f}×")  # fmt: skip
            sqlite_median = statistics.median(r.per_second for r in measured["SQLite"])
            pg_median = statistics.median(r.per_second for r in measured["PostgreSQL"])
            print(f"{'median':>6}  {sqlite_median:>15.1f}  {'':>6}  {pg_median:>19.1f}  {'':>6}  {pg_median / sqlite_median:>10.2f}×")
            print(f"load average at the end {os.getloadavg()[0]:.1f}")
        finally:
            for server in servers:
                os.killpg(server.pid, signal.SIGTERM)
                server.wait(timeout=60)
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
