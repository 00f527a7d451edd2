"""Resident memory of ``minilm(train_top=2)`` (extra nlp): the caching pass and one no-grad forward.

Usage: ``python benchmarks/bench_minilm_memory.py [N]`` (default 1,024 random 128-piece texts).
Prints RSS (``/proc/self/statm``, Linux) and the process's peak (``getrusage``) after building the
model, after caching the lower-layer states of N texts in training-sized batches of 32, and after
one no-grad forward of all N at once (what ``evaluate()``'s batches of 1,024 do). Numbers for
issue 18 are in docs/results.md ("Where minilm's memory went").
"""
from __future__ import annotations

import resource
import sys
import time

import torch

from nnsafety.models import create_model


def rss_mb() -> float:
    return int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kB


def main(n: int = 1024, length: int = 128) -> None:
    torch.set_num_threads(1)
    m = create_model("minilm", num_classes=2, in_shape=(length,), train_top=2).eval()
    ids = torch.randint(1000, 30000, (n, length), generator=torch.Generator().manual_seed(0))
    print(f"built: rss {rss_mb():.0f} MB, peak {peak_mb():.0f} MB", flush=True)
    t = time.process_time()
    with torch.no_grad():
        for i in range(0, n, 32):
            m(ids[i:i + 32])
    cache = sum(f.numel() * f.element_size() for f in m._features.values()) / 2**20
    print(f"cached {n} texts in batches of 32: cache {cache:.0f} MB, rss {rss_mb():.0f} MB, "
          f"peak {peak_mb():.0f} MB, {time.process_time() - t:.0f} CPU s", flush=True)
    t = time.process_time()
    with torch.no_grad():
        m(ids)
    print(f"one forward of all {n}: rss {rss_mb():.0f} MB, peak {peak_mb():.0f} MB, "
          f"{time.process_time() - t:.0f} CPU s", flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1024)
