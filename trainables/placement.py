"""Where a trial computes: the device, its CPU threads and the memory layout of its tensors."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Placement:
    """Where a trial computes; none of it changes the result beyond floating-point order."""

    device: str = "cpu"
    threads: int = 1  # torch intra-op threads: the CPUs the trial was given (the runner may raise them between epochs)
    channels_last: bool = True  # NHWC tensors and weights (faster convolutions on CPU)
    capture: bool = True  # on a GPU: each full batch's step replayed from a captured CUDA graph
    gpu_share: float = 1.0  # on a GPU: the fraction of its memory the trial holds (resources.gpus_per_trial)
