"""ONION (``nnsafety.backdoor.onion``) on poisoned text runs: ASR and clean accuracy before and after
filtering, the bigram LM fitted on each run's own (poisoned) training texts, all 1,000 test reviews.

    OMP_NUM_THREADS=1 python benchmarks/bench_onion.py runs/zoo_text/m0001 runs/zoo_text/m0003 --out onion.json
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402

from nnsafety import runs  # noqa: E402
from nnsafety.backdoor.onion import onion_run  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--thresholds", default="0,10,50")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    thresholds = [float(t) for t in args.thresholds.split(",")]
    out = []
    for path in args.runs:
        t0 = time.process_time()
        r = onion_run(path, thresholds)
        poison = runs.load_run(path).config["poison"]
        row = {"run": path, "attack": poison["attack"], "trigger": poison["trigger"], "rate": poison["rate"],
               **r.to_dict(), "cpu_s": round(time.process_time() - t0, 1)}
        out.append(row)
        print(json.dumps(row), flush=True)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
