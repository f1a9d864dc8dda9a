"""The record of the machine a trial ran on, so the same study on two machines compares.

Torch is imported only by `machine_record` (for the GPUs), so the planner can read this machine's
CPU without it.
"""

from __future__ import annotations

import os
import platform


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        return float("nan")


def machine_record() -> dict[str, str]:
    """OS, CPU model and count, memory (GiB), Python, torch and GPU, as strings (MLflow tags)."""
    import torch

    gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return {
        "os": platform.platform(),
        "hostname": platform.node(),
        "cpu": cpu_model(),
        "cpu_count": str(os.cpu_count()),
        "memory_gib": f"{_memory_gib():.1f}",
        "python": platform.python_version(),
        "torch": str(torch.__version__),  # a str: torch's TorchVersion would make the driver import torch to unpickle it
        "gpu": ", ".join(gpus) if gpus else "none",
    }
