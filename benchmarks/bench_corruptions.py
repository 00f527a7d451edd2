"""Seconds per image for each of the 19 corruptions at severity 3: nnsafety vs imagecorruptions,
at 32 px and at 224 px.

Images at side S: (S/4)² uniform random pixels, each replicated 4×4, at uint8 levels (the same
rule on both sides). nnsafety corrupts a batch in-process (``--n``: 256 images at 32 px with the
CIFAR-10-C table, 16 at 224 px with the ImageNet-C table); the peer (imagecorruptions 1.1.2,
ImageNet-C parameters at every size, one image at a time as its API works) runs in
``.venv-imagecorruptions`` (``make bench-setup``) as a subprocess. Rounds alternate which side
runs first, per size; the median of the rounds is reported (per round, nnsafety's figure is the
median of ``--inner`` calls on the batch, the peer's the mean over ``--peer-n`` images). ``--clock cpu`` times both sides by
process CPU time (on a loaded shared machine wall time mostly measures the other jobs).
Run: ``OMP_WAIT_POLICY=PASSIVE OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_corruptions.py
--threads 1 --clock cpu`` (both variables are also set by the script before torch is imported).
"""
from __future__ import annotations

import os

# Before torch/numpy are imported (here and in the peer's subprocess, which inherits them): idle
# OpenMP threads must not spin and OpenBLAS must not start threads on the shared cores.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

from nnsafety.corruptions import corrupt, list_corruptions

ROOT = Path(__file__).resolve().parents[1]
WARM_S = 0.02  # seconds of untimed calls before each corruption's timed ones (time_nnsafety)


def smooth_batch(n: int, seed: int, size: int = 32) -> torch.Tensor:
    """The same kind of images the peer gets: (size/4)² uniform noise upsampled ×4 (pixel
    replication), truncated to uint8 levels as the peer's ``astype(np.uint8)`` (and every dataset
    image) is."""
    low = torch.rand(n, 3, size // 4, size // 4, generator=torch.Generator().manual_seed(seed))
    low = torch.floor(low * 255) / 255
    return low.repeat_interleave(4, 2).repeat_interleave(4, 3)


def time_nnsafety(x: torch.Tensor, names, severity: int, clock: str = "wall", inner: int = 1) -> dict:
    """Seconds per image of each corruption: the median of ``inner`` calls on the whole batch
    (one call is one sample of a noisy machine; the peer's figure is already a many-call mean)."""
    timer = time.process_time if clock == "cpu" else time.perf_counter
    out = {}
    for name in names:
        # warm-up on the whole batch for ≥ WARM_S: operator caches, and this process was idle while
        # the peer's subprocess ran; memory-bound work runs 2–3× slower for a few ms after ~1 s idle
        # on this VM (docs/benchmarks.md, issue 22's pixelate section), which the peer, busy with
        # its imports just before its timing, does not pay
        t_warm = time.perf_counter()
        while True:
            corrupt(x, name, severity, torch.Generator().manual_seed(0))
            if time.perf_counter() - t_warm >= WARM_S:
                break
        calls = []
        for _ in range(inner):
            t0 = timer()
            corrupt(x, name, severity, torch.Generator().manual_seed(0))
            calls.append((timer() - t0) / x.shape[0])
        out[name] = statistics.median(calls)
    return out


def time_peer(python: str, names, severity: int, n: int, seed: int, clock: str = "wall",
              size: int = 32) -> dict:
    script = str(ROOT / "benchmarks" / "_peer_imagecorruptions.py")
    args = [str(severity), str(n), str(seed), str(size), *names]
    if clock == "cpu":  # the peer script times with perf_counter: swap in the process CPU clock
        code = ("import runpy, sys, time; time.perf_counter = time.process_time; "
                f"sys.argv = {[script, *args]!r}; runpy.run_path({script!r}, run_name='__main__')")
        cmd = [python, "-c", code]
    else:
        cmd = [python, script, *args]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def measure(args, names, size: int, n: int, peer_n: int) -> tuple:
    """{name: [ours per round]}, {name: [peer per round]} at one image size; the side that runs
    first alternates from round to round."""
    x = smooth_batch(n, 0, size)
    ours, peer = {k: [] for k in names}, {k: [] for k in names}
    for r in range(args.rounds):
        for side in ("ours", "peer") if r % 2 == 0 else ("peer", "ours"):
            if side == "ours":
                for k, v in time_nnsafety(x, names, args.severity, args.clock, args.inner).items():
                    ours[k].append(v)
            else:
                for k, v in time_peer(args.peer_python, names, args.severity, peer_n, r, args.clock,
                                      size).items():
                    peer[k].append(v)
    return ours, peer


def cells(ours: list, peer: list) -> tuple:
    """(ours ms, peer ms or failure, ratio of the medians with the range of the per-round ratios)
    as table cells, and the two ms (None if the peer failed)."""
    o = statistics.median(ours) * 1e3
    ok = [v for v in peer if isinstance(v, float)]
    if not ok:
        return (f"{o:.4f}", f"fails ({peer[0][7:50]})", "–"), (o, None)
    p = statistics.median(ok) * 1e3
    per_round = [b / a for a, b in zip(ours, peer) if isinstance(b, float)]
    spread = f" ({min(per_round):.1f}–{max(per_round):.1f})"
    return (f"{o:.4f}", f"{p:.4f}", f"{p / o:.1f}×{spread}"), (o, p)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--sizes", type=int, nargs="+", default=[32, 224])
    ap.add_argument("--n", type=int, nargs="+", default=[256, 16], help="batch per size")
    ap.add_argument("--inner", type=int, default=3, help="nnsafety calls per round (median taken)")
    ap.add_argument("--peer-n", type=int, nargs="+", default=[64, 8],
                    help="images per peer timing per size (per-image loop)")
    ap.add_argument("--severity", type=int, default=3)
    ap.add_argument("--peer-python", default=str(ROOT / ".venv-imagecorruptions" / "bin" / "python"))
    ap.add_argument("--threads", type=int, default=0, help="torch threads for nnsafety (0: default)")
    ap.add_argument("--names", nargs="*", default=None, help="corruptions to time (default: all 19)")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="cpu: process CPU time on both sides (robust to other jobs' load; with >1 "
                         "thread it sums the threads)")
    args = ap.parse_args()
    if not len(args.n) == len(args.peer_n) == len(args.sizes):
        raise SystemExit("expected one --n and one --peer-n per --sizes entry")
    if args.threads:
        torch.set_num_threads(args.threads)
    names = args.names or list_corruptions()
    load0, t0 = os.getloadavg(), time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    runs = [measure(args, names, s, n, pn) for s, n, pn in zip(args.sizes, args.n, args.peer_n)]
    load1, t1 = os.getloadavg(), time.strftime("%H:%M UTC", time.gmtime())
    print(f"{t0}–{t1}; load average (1, 5, 15 min) {', '.join(f'{v:.1f}' for v in load0)} at the "
          f"start, {', '.join(f'{v:.1f}' for v in load1)} at the end; × = median peer / median "
          f"nnsafety (range of the per-round ratios)")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; severity {args.severity}; "
          f"sizes {args.sizes} with batches {args.n} (nnsafety) and {args.peer_n} images (peer); "
          f"median of {args.rounds} alternating rounds (nnsafety: median of {args.inner} calls per "
          f"round; peer: mean over its images), {args.clock} clock, ms per image")
    head = " | ".join(f"nnsafety {s} px | imagecorruptions {s} px | × {s} px" for s in args.sizes)
    print(f"| corruption | {head} |")
    print("|---|" + "---:|" * (3 * len(args.sizes)))
    totals = [[0.0, 0.0] for _ in runs]
    for name in names:
        row = []
        for i, (ours, peer) in enumerate(runs):
            c, (o, p) = cells(ours[name], peer[name])
            row += c
            if p is not None:
                totals[i][0] += o
                totals[i][1] += p
        print(f"| {name} | " + " | ".join(row) + " |")
    tot = " | ".join(f"{o:.4f} | {p:.4f} | {p / o:.1f}×" for o, p in totals)
    print(f"| **total (corruptions both run)** | {tot} |")


if __name__ == "__main__":
    sys.exit(main())
