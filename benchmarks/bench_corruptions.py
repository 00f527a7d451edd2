"""Seconds per image for each of the 19 corruptions at severity 3: nnsafety vs imagecorruptions.

nnsafety corrupts a 256×3×32×32 batch in-process (CIFAR-10-C parameters); the peer
(imagecorruptions 1.1.2, ImageNet-C parameters at every size, one image at a time as its API
works) runs in ``.venv-bench`` as a subprocess. Rounds alternate nnsafety / peer; the median of
the rounds is reported (per round, nnsafety's figure is the median of ``--inner`` calls on the
batch, the peer's the mean over ``--peer-n`` images). ``--clock cpu`` times both sides by process
CPU time (on a loaded shared machine wall time mostly measures the other jobs).
Run: ``OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/bench_corruptions.py [--threads 1] [--clock cpu]``.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from nnsafety.corruptions import corrupt, list_corruptions

ROOT = Path(__file__).resolve().parents[1]


def smooth_batch(n: int, seed: int) -> torch.Tensor:
    """The same kind of images the peer gets: 8×8 uniform noise upsampled ×4 (pixel replication),
    truncated to uint8 levels as the peer's ``astype(np.uint8)`` (and every dataset image) is."""
    low = torch.rand(n, 3, 8, 8, generator=torch.Generator().manual_seed(seed))
    low = torch.floor(low * 255) / 255
    return low.repeat_interleave(4, 2).repeat_interleave(4, 3)


def time_nnsafety(x: torch.Tensor, names, severity: int, clock: str = "wall", inner: int = 1) -> dict:
    """Seconds per image of each corruption: the median of ``inner`` calls on the whole batch
    (one call is one sample of a noisy machine; the peer's figure is already a 64-call mean)."""
    timer = time.process_time if clock == "cpu" else time.perf_counter
    out = {}
    for name in names:
        corrupt(x[:8], name, severity, torch.Generator().manual_seed(0))  # warm-up, operator caches
        calls = []
        for _ in range(inner):
            t0 = timer()
            corrupt(x, name, severity, torch.Generator().manual_seed(0))
            calls.append((timer() - t0) / x.shape[0])
        out[name] = statistics.median(calls)
    return out


def time_peer(python: str, names, severity: int, n: int, seed: int, clock: str = "wall") -> dict:
    script = str(ROOT / "benchmarks" / "_peer_imagecorruptions.py")
    args = [str(severity), str(n), str(seed), *names]
    if clock == "cpu":  # the peer script times with perf_counter: swap in the process CPU clock
        code = ("import runpy, sys, time; time.perf_counter = time.process_time; "
                f"sys.argv = {[script, *args]!r}; runpy.run_path({script!r}, run_name='__main__')")
        cmd = [python, "-c", code]
    else:
        cmd = [python, script, *args]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--inner", type=int, default=3, help="nnsafety calls per round (median taken)")
    ap.add_argument("--peer-n", type=int, default=64, help="images per peer timing (per-image loop)")
    ap.add_argument("--severity", type=int, default=3)
    ap.add_argument("--peer-python", default=str(ROOT / ".venv-bench" / "bin" / "python"))
    ap.add_argument("--threads", type=int, default=0, help="torch threads for nnsafety (0: default)")
    ap.add_argument("--names", nargs="*", default=None, help="corruptions to time (default: all 19)")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="cpu: process CPU time on both sides (robust to other jobs' load; with >1 "
                         "thread it sums the threads)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    names = args.names or list_corruptions()
    x = smooth_batch(args.n, 0)
    ours, peer = {n: [] for n in names}, {n: [] for n in names}
    for r in range(args.rounds):
        for k, v in time_nnsafety(x, names, args.severity, args.clock, args.inner).items():
            ours[k].append(v)
        for k, v in time_peer(args.peer_python, names, args.severity, args.peer_n, r, args.clock).items():
            peer[k].append(v)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; batch {args.n}×3×32×32, "
          f"severity {args.severity}, median of {args.rounds} alternating rounds (nnsafety: median of "
          f"{args.inner} calls per round; peer: mean of {args.peer_n} images), {args.clock} clock")
    print("| corruption | nnsafety ms/img | imagecorruptions ms/img | speed-up |")
    print("|---|---:|---:|---:|")
    tot_ours = tot_peer = 0.0
    for name in names:
        o = statistics.median(ours[name]) * 1e3
        ok = [v for v in peer[name] if isinstance(v, float)]
        if ok:
            p = statistics.median(ok) * 1e3
            tot_ours, tot_peer = tot_ours + o, tot_peer + p
            print(f"| {name} | {o:.4f} | {p:.4f} | {p / o:.1f}× |")
        else:
            print(f"| {name} | {o:.4f} | fails ({peer[name][0][7:60]}) | – |")
    ratio = tot_peer / tot_ours
    print(f"| **total (corruptions both run)** | {tot_ours:.4f} | {tot_peer:.4f} | {ratio:.1f}× |")
    print(f"| all 19 (nnsafety) | {sum(statistics.median(v) for v in ours.values()) * 1e3:.4f} | | |")


if __name__ == "__main__":
    sys.exit(main())
