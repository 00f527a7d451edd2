"""nnsafety's own corruption time, one version of the package against another (before / after a
change), alternating in separate processes: ms per image at 32 and 224 px, severity 3, CPU time,
the batches and calls of ``bench_corruptions.py`` (no peer). A load-robust before/after: both
versions see the same machine state, round by round.

Run: ``.venv/bin/python benchmarks/bench_corruptions_versions.py OLD_SRC NEW_SRC --rounds 5``
where each *_SRC is a folder holding the package ``nnsafety`` (e.g. ``git archive REV src`` unpacked).
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

HERE = Path(__file__).resolve().parent

CHILD = """
import json, sys, torch
sys.path.insert(0, {src!r}); sys.path.insert(1, {bench!r})
torch.set_num_threads(1)
import nnsafety
assert nnsafety.__file__.startswith({src!r}), nnsafety.__file__
from bench_corruptions import smooth_batch, time_nnsafety
from nnsafety.corruptions import list_corruptions
names = {names!r} or list_corruptions()
out = {{}}
for size, n in ((32, 256), (224, 16)):
    t = time_nnsafety(smooth_batch(n, 0, size), names, 3, "cpu", {inner})
    out.update({{f"{{k}}/{{size}}": v for k, v in t.items()}})
print(json.dumps(out))
"""


def run(src: str, names, inner: int) -> dict:
    code = CHILD.format(src=str(Path(src).resolve()), bench=str(HERE), names=names, inner=inner)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--inner", type=int, default=3)
    ap.add_argument("--names", nargs="*", default=None)
    args = ap.parse_args()
    times = {"old": [], "new": []}
    run(args.old, args.names, 1), run(args.new, args.names, 1)  # compile and cache the kernels first
    load0 = os.getloadavg()[0]
    for r in range(args.rounds):
        for side in ("old", "new") if r % 2 == 0 else ("new", "old"):
            times[side].append(run(getattr(args, side), args.names, args.inner))
    print(f"load average (1 min) {load0:.1f} at the start, {os.getloadavg()[0]:.1f} at the end; median of "
          f"{args.rounds} alternating rounds, ms per image, CPU time")
    print("| corruption | before 32 px | after 32 px | × | before 224 px | after 224 px | × |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for key in times["old"][0]:
        if not key.endswith("/32"):
            continue
        name, cells = key[:-3], []
        for size in (32, 224):
            o = statistics.median(t[f"{name}/{size}"] for t in times["old"]) * 1e3
            n = statistics.median(t[f"{name}/{size}"] for t in times["new"]) * 1e3
            cells += [f"{o:.4f}", f"{n:.4f}", f"{o / n:.2f}×"]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    sys.exit(main())
