"""How busy the cores are during the README's main command, with and without idle cores shared out.

    python benchmarks/utilisation.py [--repeats 1] [-- ARGS …]     # ARGS: what `sweep run` gets (default below)

The work: `sweep run jhu_fashion offline=true` (the README's main command), each time in a fresh working
folder, once with `resources.share_idle_cores=false` (every trial trains on the threads it started with)
and once with it on (the default: an experiment's last trials raise their threads to the cores the others
leave, sweeps/run/cores.py), interleaved `--repeats` times. While it runs, every 0.5 s the script reads
/proc: the CPU time of each Ray worker process (`ray::…`) the command started, and the machine's busy time.
It prints for each way the wall seconds, the trial workers' CPU seconds, utilisation = those CPU seconds /
(wall × cores) — the goal is ≥ 95 % — and the machine's busy share, then the wall-time ratio of the two
ways; and where the cores' unused seconds are: before the first trial's CPU time grows (imports, plan,
Ray's and Tune's start), after it last grows (runs closed, Ray stopped), and between the two. `--only
shared` (or `kept`) runs one way. Measure on an idle machine: another process's load shows as neither.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

from overhead import copy_of_repo

MAIN_COMMAND = ["jhu_fashion", "offline=true"]
GOAL = 0.95  # trial CPU seconds / (wall × cores)
TICK = os.sysconf("SC_CLK_TCK")  # /proc's CPU times are in these ticks per second


class Sample(NamedTuple):
    wall: float  # seconds from start to exit
    trials: float  # CPU seconds of the Ray worker processes
    busy: float  # CPU seconds the whole machine was busy
    first: float  # seconds from start to the first sample in which the workers' CPU time had grown
    last: float  # seconds from start to the last such sample


def machine_busy() -> float:
    """CPU seconds the machine has been busy since boot (every state but idle and iowait)."""
    fields = [int(value) for value in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / TICK


def processes() -> dict[int, tuple[int, float, str]]:
    """Every process: pid → (parent pid, its own CPU seconds, its command line)."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            command = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # it ended while being read
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) ": the comm may hold spaces
        found[int(entry)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK, command)
    return found


def descendants(root: int, table: dict[int, tuple[int, float, str]]) -> set[int]:
    children: dict[int, list[int]] = {}
    for pid, (parent, _, _) in table.items():
        children.setdefault(parent, []).append(pid)
    found, todo = set(), [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def sampled(command: list[str], folder: Path, root: Path) -> Sample:
    """Run `command` in a fresh working folder with its own HOME and RAY_TMPDIR, reading /proc every 0.5 s."""
    work = Path(tempfile.mkdtemp(prefix="util", dir=folder))
    ray_tmp = Path(tempfile.mkdtemp(prefix="utr", dir="/tmp"))
    (work / "home").mkdir()
    env = {**os.environ, "PYTHONPATH": str(root), "HOME": str(work / "home"), "RAY_TMPDIR": str(ray_tmp)}
    busy_before, started = machine_busy(), time.perf_counter()
    process = subprocess.Popen(command, cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    workers: dict[int, float] = {}  # pid → its CPU seconds when last seen (a worker's last 0.5 s may be missed)
    grew: list[float] = []  # seconds from start of each sample in which the workers' CPU time had grown
    while process.poll() is None:
        table, seen = processes(), sum(workers.values())
        for pid in descendants(process.pid, table):
            if table[pid][2].startswith("ray::"):
                workers[pid] = table[pid][1]
        if sum(workers.values()) > seen + 0.05:  # more than a worker's idle ticks (s)
            grew.append(time.perf_counter() - started)
        time.sleep(0.5)
    wall, busy = time.perf_counter() - started, machine_busy() - busy_before
    shutil.rmtree(ray_tmp, ignore_errors=True)
    if process.returncode != 0:
        error = process.stderr.read()[-2000:] if process.stderr else ""
        raise SystemExit(f"{' '.join(command[2:5])} … failed ({process.returncode}):\n{error}")
    return Sample(wall, sum(workers.values()), busy, grew[0] if grew else wall, grew[-1] if grew else wall)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--only", choices=["kept", "shared"], help="run only this way")
    parser.add_argument("args", nargs="*", default=MAIN_COMMAND, help="what `sweep run` gets (default: jhu_fashion offline=true)")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    ways = {"kept": "resources.share_idle_cores=false", "shared": "resources.share_idle_cores=true"}
    ways = {way: override for way, override in ways.items() if args.only in (None, way)}
    samples: dict[str, list[Sample]] = {way: [] for way in ways}
    print(f"load {os.getloadavg()[0]:.1f} · {cores} cores · sweep run {' '.join(args.args)}", flush=True)
    with tempfile.TemporaryDirectory(prefix="utilisation") as temporary:
        folder = Path(temporary)
        root = copy_of_repo(folder, {})
        for repeat in range(args.repeats):
            for way, override in ways.items():  # interleaved: machine noise hits both alike
                sample = sampled([sys.executable, "-m", "sweeps", "run", *args.args, override], folder, root)
                samples[way].append(sample)
                print(f"  repeat {repeat + 1}: {way}: {sample.wall:.1f} s", flush=True)
    print(f"\nload {os.getloadavg()[0]:.1f} at the end · the run of least wall time of {args.repeats}")
    print("| idle cores | wall s | trial CPU s | utilisation | machine busy |\n|---|---|---|---|---|")
    best = {way: min(values) for way, values in samples.items()}
    for way, sample in best.items():
        utilisation = sample.trials / (sample.wall * cores)
        print(f"| {way} | {sample.wall:.1f} | {sample.trials:.1f} | {utilisation:.1%} | {sample.busy / (sample.wall * cores):.1%} |")
    print("\nthe cores' unused seconds (wall × cores − trial CPU): before the first trial's CPU grows, between, after the last")
    print("| idle cores | before: s (core-s) | between: core-s | after: s (core-s) | utilisation between |\n|---|---|---|---|---|")
    for way, sample in best.items():
        span = sample.last - sample.first
        between = span * cores - sample.trials
        print(
            f"| {way} | {sample.first:.1f} ({sample.first * cores:.0f}) | {between:.0f} | {sample.wall - sample.last:.1f} "
            f"({(sample.wall - sample.last) * cores:.0f}) | {sample.trials / (span * cores):.1%} |"
        )
    if "shared" in best:
        shared = best["shared"]
        verdict = "PASS" if shared.trials / (shared.wall * cores) >= GOAL else "FAIL"
        ratio = f"shared / kept wall time: {shared.wall / best['kept'].wall:.3f}× · " if "kept" in best else ""
        print(f"\n{ratio}utilisation goal ≥ {GOAL:.0%}: {verdict}")


if __name__ == "__main__":
    main()
