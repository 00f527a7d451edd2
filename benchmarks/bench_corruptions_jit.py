"""CPU time per image of the corruptions with compiled kernels, compiled (numba) vs their torch path,
and the kernels' one-off compile time.

Same images and batches as ``bench_corruptions.py`` (severity 3; 256 images at 32 px, 16 at 224 px),
1 thread. The two paths alternate within each round (``NNSAFETY_JIT=0`` selects the torch path per
call); per round each figure is the median of ``--inner`` calls; the median of the rounds is
reported. The compile time is measured first, in a child process with an empty numba cache.
Run: ``.venv/bin/python benchmarks/bench_corruptions_jit.py``.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_corruptions import smooth_batch  # noqa: E402

from nnsafety.corruptions import corrupt  # noqa: E402

NAMES = ("jpeg_compression", "pixelate", "spatter", "frost")
_COMPILE = """
import time, torch
from nnsafety.corruptions import corrupt
x = torch.rand(2, 3, 32, 32)
for name in {names!r}:
    t0 = time.process_time()
    corrupt(x, name, 3, torch.Generator().manual_seed(0))
    corrupt(x.double(), name, 3, torch.Generator().manual_seed(0))
    print(name, time.process_time() - t0)
"""


def compile_seconds() -> dict:
    """CPU seconds of the first float32 and float64 calls of each corruption with an empty cache
    (compilation, plus two tiny calls)."""
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache, OMP_NUM_THREADS="1")
        res = subprocess.run([sys.executable, "-c", _COMPILE.format(names=NAMES)], env=env,
                             capture_output=True, text=True, check=True)
    return {k: float(v) for k, v in (line.split() for line in res.stdout.strip().splitlines())}


def per_image(x: torch.Tensor, name: str, jit: bool, inner: int) -> float:
    os.environ["NNSAFETY_JIT"] = "1" if jit else "0"
    calls = []
    for _ in range(inner):
        t0 = time.process_time()
        corrupt(x, name, 3, torch.Generator().manual_seed(0))
        calls.append((time.process_time() - t0) / x.shape[0])
    return statistics.median(calls)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--inner", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    comp = compile_seconds()
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; load average {os.getloadavg()[0]:.1f}; "
          f"median of {args.rounds} rounds, CPU ms per image, severity 3, 1 thread")
    print("| corruption @ px | torch path | compiled | × | compile time (s, cold cache) |")
    print("|---|---:|---:|---:|---:|")
    for size, n in ((32, 256), (224, 16)):
        x = smooth_batch(n, 0, size)
        for name in NAMES:
            for jit in (True, False):  # warm-up: caches, compilation
                per_image(x[:4], name, jit, 1)
            res = {True: [], False: []}
            for r in range(args.rounds):
                for jit in (True, False) if r % 2 == 0 else (False, True):
                    res[jit].append(per_image(x, name, jit, args.inner))
            t, c = statistics.median(res[False]) * 1e3, statistics.median(res[True]) * 1e3
            first = f"{comp[name]:.1f}" if size == 32 else "(as above)"
            print(f"| {name} @ {size} | {t:.4f} | {c:.4f} | {t / c:.1f}× | {first} |")


if __name__ == "__main__":
    sys.exit(main())
