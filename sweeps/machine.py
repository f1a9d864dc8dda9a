"""This machine's CPUs and GPUs as a local Ray counts them: the one home of both counts, used by the
preflight, the plan's estimate and each grid's CPU share, so that they agree inside a container (a CFS
quota) or with CUDA_VISIBLE_DEVICES set. Nothing here imports torch or Ray."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def machine_cpus() -> int:
    """The CPUs a local Ray would use: this process's CPUs, capped by a container's quota (as Ray counts them)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    quota = _cgroup_cpu_quota()
    return max(1, min(cpus, int(quota))) if quota else cpus


def machine_gpus() -> int:
    """NVIDIA GPUs this process may use, found without importing torch or Ray (the driver's files or
    `nvidia-smi -L`), limited by CUDA_VISIBLE_DEVICES as Ray limits them."""
    found = Path("/proc/driver/nvidia/gpus")
    if found.is_dir():
        count = len(list(found.iterdir()))
    else:
        try:
            listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10, check=False).stdout
        except (OSError, subprocess.TimeoutExpired):
            return 0
        count = sum(line.startswith("GPU ") for line in listing.splitlines())
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        count = min(count, len([device for device in visible.split(",") if device.strip() and device.strip() != "-1"]))
    return count


def _cgroup_cpu_quota() -> float | None:
    """CPUs a container may use by its CFS quota (cgroup v2 `cpu.max`, or v1), None when unlimited."""
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        return float(quota) / float(period) if quota != "max" else None
    except (OSError, ValueError):
        pass
    try:
        quota_us = float(Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text())
        period_us = float(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota_us / period_us if quota_us > 0 else None
