"""Shared timing helpers for the benchmarks: paired, alternating, median of repeats."""
from __future__ import annotations

import os

# Before torch/numpy are imported: idle OpenMP threads must not spin on the shared cores.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from typing import Callable, Dict, List  # noqa: E402


def paired_medians(
    candidates: Dict[str, Callable[[], None]], repeats: int = 5, warmup: int = 1, clock: str = "wall"
) -> Dict[str, float]:
    """Run every candidate ``repeats`` times, alternating their order, and return median seconds.

    ``clock="cpu"`` measures this process's CPU time instead of wall time: on a shared machine
    another process's load inflates wall time but hardly the CPU time the code itself burns.
    """
    timer = time.process_time if clock == "cpu" else time.perf_counter
    for fn in candidates.values():
        for _ in range(warmup):
            fn()
    times: Dict[str, List[float]] = {name: [] for name in candidates}
    names = list(candidates)
    for r in range(repeats):
        for name in names if r % 2 == 0 else reversed(names):
            t0 = timer()
            candidates[name]()
            times[name].append(timer() - t0)
    return {name: statistics.median(ts) for name, ts in times.items()}


def machine() -> str:
    import torch

    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} vCPU, torch {torch.__version__}, "
            f"{torch.get_num_threads()} threads, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}")
