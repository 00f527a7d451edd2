"""Backdoor benchmark: build a digits zoo, score every detector on it, time the data-free detectors.

Run (the zoo takes ~30 min of a shared 2-core CPU for 200 models; resumable, re-run to continue):
    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/bench_backdoor.py --zoo /tmp/bd/zoo --n 200
    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/bench_backdoor.py --zoo /tmp/bd/zoo --skip-table
Prints the detector table (markdown, as in docs/results.md, "Backdoors") and the timing table:
CPU seconds per model (process time, median of 3, alternating) for noise_response, data-free
Neural Cleanse and classic Neural Cleanse (100 clean test images) on 2 MLPs, 2 CNNs and the widest
CNN of the zoo.
Goals (issue 8): noise_response data-free AUC ≥ 0.97 (≥ 0.95 on MLPs), ≤ 0.5 s/model; data-free
Neural Cleanse AUC ≥ 0.99, ≤ 2 s/model.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _timing import machine, paired_medians  # noqa: E402

from nnsafety import runs  # noqa: E402
from nnsafety.backdoor.detect import run_context  # noqa: E402
from nnsafety.backdoor.detectors import create_detector  # noqa: E402
from nnsafety.backdoor.evaluate_zoo import evaluate_detectors  # noqa: E402
from nnsafety.backdoor.zoo import build_zoo, read_manifest  # noqa: E402


def timing(zoo: Path) -> str:
    recs = read_manifest(zoo)
    cnns = [r for r in recs if r["arch"] == "cnn"]
    widest = max(cnns, key=lambda r: r["model_kwargs"].get("width", 0))  # the costliest model of the zoo
    picks = [r for r in recs if r["arch"] == "mlp"][:2] + cnns[:2] + [widest]
    variants = {"noise_response": {}, "neural_cleanse (data-free)": {"data_free": True},
                "neural_cleanse (clean samples)": {"data_free": False}}
    lines = [f"machine: {machine()}", "", "| model | " + " | ".join(variants) + " | NC clean / NC data-free |",
             "|---|" + "---|" * (len(variants) + 1)]
    for r in picks:
        run = runs.load_run(zoo / r["path"])
        ctx = run_context(run)
        fns = {}
        for name, kw in variants.items():
            det = create_detector(name.split(" ")[0], **kw)
            fns[name] = (lambda d=det: d.detect(run.model, ctx))
        med = paired_medians(fns, repeats=3, warmup=1, clock="cpu")
        ratio = med["neural_cleanse (clean samples)"] / med["neural_cleanse (data-free)"]
        lines.append(f"| {r['id']} {r['arch']} {r['model_kwargs']} | " + " | ".join(f"{med[k]:.3f}" for k in variants)
                     + f" | {ratio:.2f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--zoo", default="/tmp/nnsafety_backdoor_zoo")
    ap.add_argument("--n", type=int, default=0, help="build (or finish) a zoo of this many models first")
    ap.add_argument("--methods", default="all")
    ap.add_argument("--skip-table", action="store_true")
    ap.add_argument("--json", help="write the full detector table (per-model scores too) here")
    args = ap.parse_args()
    zoo = Path(args.zoo)
    if args.n:
        build_zoo(zoo, args.n)
    if not args.skip_table:
        table = evaluate_detectors(zoo, args.methods.split(","))
        print(table.to_markdown())
        if args.json:
            Path(args.json).write_text(json.dumps(table.to_dict(), indent=1))
    print(timing(zoo))


if __name__ == "__main__":
    main()
