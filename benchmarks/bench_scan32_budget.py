"""Is it the budget? Neural Cleanse and the patch search on the 3×32×32 zoo at budgets above the scan's.

The scan runs NC for 10–20 steps on 20 base images; Neural Cleanse (Wang et al. 2019) finds patch
triggers on CIFAR-size models with many more steps and a few hundred clean images. Here, per usable
model of the 32×32 zoo (clean, or backdoored with ASR ≥ 0.9): NC up to ``--nc20`` steps on 20 clean
samples and up to ``--nc100`` steps on 100 clean samples (L1 of each class's smallest mask recorded
at every checkpoint, same seeded init as the scan), and the patch search on 100 clean samples (five
times the scan's bases). Each part is cached per model in JSON lines (resumable: a stopped run loses
at most the part in progress). No reference is fitted: every score is an unsupervised anomaly (the
MAD anomaly index of NC's smallest L1, the patch search's per-class MAD z), so AUC needs no split.

Run:
    OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=1 nice -n 5 .venv/bin/python benchmarks/bench_scan32_budget.py \
        --zoo runs/zoo32 --collect
    ... bench_scan32_budget.py --zoo runs/zoo32 --table --out docs/results/backdoor_scan32.json
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _timing import machine  # noqa: E402

from nnsafety.backdoor import scan_eval as se  # noqa: E402
from nnsafety.backdoor.evidence import PATCH_MAD_FLOOR, robust_z  # noqa: E402

CHECKPOINTS = (10, 20, 50, 100, 150, 200)


def nc_anomaly(l1) -> float:
    """The scan's ``nc_anomaly``: MAD anomaly of the smallest mask, 0 when it is not below the median."""
    l1 = np.asarray(l1, dtype=np.float64)
    k = int(np.argmin(l1))
    return float(min(-robust_z(l1)[k], 20.0)) if l1[k] <= np.median(l1) else 0.0


# unsupervised scores (score, first class) of one model's per-class values; no reference, no fit
NC_SCORES = {
    "nc_anomaly": lambda l1: (nc_anomaly(l1), int(np.argmin(l1))),
    # the smallest mask's own size: a patch trigger needs a few pixels whatever the other classes need
    "nc -log L1_min": lambda l1: (float(-np.log(max(min(l1), 1e-6))), int(np.argmin(l1))),
}
PATCH_SCORES = {
    "patch_anomaly": lambda f: (float(np.clip(robust_z(np.asarray(f), PATCH_MAD_FLOOR).max(), -20, 20)), int(np.argmax(f))),
    "patch_flip_max": lambda f: (float(np.max(f)), int(np.argmax(f))),
}


def scan_rows(path):
    """The standard scan's evidence of the same zoo (``bench_scan.py --collect``), as parts of this
    benchmark: NC / patch search on 20 prototypes (data-free) and on 20 clean samples."""
    rows = []
    for r in se.read_cache(path):
        for key, name in (("evidence", "prototypes20"), ("evidence_data", "clean20")):
            if key in r:
                ev = r[key]
                base = {"id": r["id"], "label": r["label"], "arch": r["arch"], "family": r["family"],
                        "target": r["target"], "n_base": 20, "cpu_s": float("nan")}  # recorded as wall time only
                rows.append({**base, "part": f"scan_{name}_nc", "steps": ev["nc_steps"],
                             "result": {str(k): v for k, v in ev["nc_l1_at"].items()}})
                rows.append({**base, "part": f"scan_{name}_patch", "steps": 0,
                             "result": {"flip": ev["patch"]["flip"]}})
    return rows


def parts(args):
    """(name, n_base, what, steps): the measured settings, cheapest first."""
    return [("clean20_nc", 20, "nc", args.nc20), ("clean100_patch", 100, "patch", 0),
            ("clean100_nc", 100, "nc", args.nc100)]


def table_parts(args):
    """The measured parts and, first, the standard scan's (20 bases: prototypes or clean samples)."""
    return [("scan_prototypes20_nc", 20, "nc", 20), ("scan_prototypes20_patch", 20, "patch", 0),
            ("scan_clean20_nc", 20, "nc", 20), ("scan_clean20_patch", 20, "patch", 0)] + parts(args)


def collect(args) -> None:
    import torch

    from nnsafety import runs
    from nnsafety.backdoor.detect import run_context
    from nnsafety.backdoor.detectors.neural_cleanse import reverse_engineer_triggers
    from nnsafety.backdoor.detectors.patch_search import patch_flip_rates
    from nnsafety.backdoor.evidence import base_images
    from nnsafety.backdoor.zoo import read_manifest, zoo_labels

    cache = Path(args.cache)
    done = {(r["id"], r["part"]) for r in se_rows(cache)}
    recs = zoo_labels(read_manifest(args.zoo))
    for name, n_base, what, steps in parts(args):
        for rec in recs:
            if (rec["id"], name) in done:
                continue
            run = runs.load_run(Path(args.zoo) / rec["path"])
            ctx = run_context(run)
            model = run.model.eval()
            g = torch.Generator().manual_seed(0)
            base, labels = base_images(model, ctx.in_shape, ctx.num_classes, ctx.clean, n_base, 40, g)
            t = time.process_time()
            if what == "nc":
                out = reverse_engineer_triggers(model, base, ctx.num_classes, steps, generator=g, base_labels=labels,
                                                checkpoints=[c for c in CHECKPOINTS if c < steps])
                res = {str(k): v.tolist() for k, v in out["l1_at"].items()}
                res[str(steps)] = out["l1"].tolist()
            else:
                res = {k: v.tolist() for k, v in patch_flip_rates(model, base, labels, ctx.num_classes).items()}
            row = {"id": rec["id"], "part": name, "label": rec["label"], "arch": rec["arch"],
                   "family": rec.get("family"), "target": rec.get("target"), "n_base": int(base.shape[0]),
                   "steps": steps, "result": res, "cpu_s": time.process_time() - t}
            with open(cache, "a", encoding="utf-8") as f:
                f.write(json.dumps(row) + "\n")
            print(f"[{name}] {rec['id']} {rec['arch']} label={rec['label']} {row['cpu_s']:.1f} CPU s", flush=True)


def se_rows(cache: Path):
    return [json.loads(x) for x in cache.read_text().splitlines() if x.strip()] if cache.is_file() else []


def _score(rows, fn):
    """AUC summary of one unsupervised score, overall and on the patch-trigger backdoors only, the
    target hit rate (first class = true target) and the median CPU s per architecture."""
    y = np.asarray([r["label"] for r in rows])
    s = np.asarray([fn(r)[0] for r in rows])
    first = [fn(r)[1] for r in rows]
    patch = np.asarray([r["label"] == 0 or r["family"] == "patch_bright" for r in rows])
    out = se.summarize(y, s)
    d = se.summarize(y[patch], s[patch])
    other = ~patch | (y == 0)
    e = se.summarize(y[other], s[other])
    out.update(patch_auc=d["auc"], patch_auc_ci=d["auc_ci"], patch_tpr_at_5fpr=d["tpr_at_5fpr"],
               n_patch=int(y[patch].sum()), other_auc=e["auc"], other_auc_ci=e["auc_ci"], n_other=int(y[other].sum()),
               target_hit=float(np.mean([f == r["target"] for f, r in zip(first, rows) if r["label"] == 1])))
    return out


def _sec(v: float) -> str:
    return "-" if np.isnan(v) else f"{v:.1f}"


def table(args) -> None:
    rows = scan_rows(Path(args.zoo) / "scan_evidence.jsonl") + se_rows(Path(args.cache))
    by = {}
    for r in rows:
        by.setdefault(r["part"], {})[r["id"]] = r  # the last row wins
    res = {}
    print("| setting | score | AUC [95 % CI] | TPR@5%FPR | patch triggers: AUC [95 % CI] | blended + SIG: AUC | target hit | "
          "median CPU s (cnn / preact) | clean / backdoored |\n|---|---|---|---|---|---|---|---|---|")
    for name, n_base, what, steps in table_parts(args):
        got = sorted(by.get(name, {}).values(), key=lambda r: r["id"])
        if not got:
            continue
        if what == "nc":
            ks = [c for c in CHECKPOINTS + (steps,) if c <= steps and all(str(c) in r["result"] for r in got)]
            variants = [(f"{s} @ {k} steps", k, s) for k in sorted(set(ks)) for s in NC_SCORES]
        else:
            variants = [(s, None, s) for s in PATCH_SCORES]
        cpu = {a: float(np.median([r["cpu_s"] for r in got if r["arch"] == a] or [np.nan])) for a in ("cnn", "preact_resnet18")}
        for label, k, score in variants:
            if what == "nc":
                fn = (lambda r, k=k, score=score: NC_SCORES[score](r["result"][str(k)]))
                sec = {a: v * k / steps for a, v in cpu.items()}  # each step costs the same
            else:
                fn = (lambda r, score=score: PATCH_SCORES[score](r["result"]["flip"]))
                sec = cpu
            d = _score(got, fn)
            d.update(setting=name, n_base=n_base, steps=k, cpu_s=sec)
            res[f"{name} | {label}"] = d
            print(f"| {name} | {label} | {d['auc']:.3f} [{d['auc_ci'][0]:.3f}, {d['auc_ci'][1]:.3f}] | "
                  f"{d['tpr_at_5fpr']:.2f} | {d['patch_auc']:.3f} [{d['patch_auc_ci'][0]:.3f}, {d['patch_auc_ci'][1]:.3f}] "
                  f"({d['n_patch']}) | {d['other_auc']:.3f} ({d['n_other']}) | {d['target_hit']:.2f} | "
                  f"{_sec(sec['cnn'])} / {_sec(sec['preact_resnet18'])} | "
                  f"{d['n_clean']} / {d['n_backdoored']} |")
    if args.out:
        out = Path(args.out)
        doc = json.loads(out.read_text()) if out.is_file() else {}
        doc["budget"] = {"results": res, "machine": machine(), "date": time.strftime("%Y-%m-%d"),
                         "command": "benchmarks/bench_scan32_budget.py --zoo runs/zoo32 --collect / --table"}
        tmp = out.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc, indent=1, default=float))
        tmp.replace(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--zoo", required=True)
    ap.add_argument("--cache", help="JSON lines (default ZOO/budget_evidence.jsonl)")
    ap.add_argument("--nc20", type=int, default=200, help="NC steps on 20 clean samples")
    ap.add_argument("--nc100", type=int, default=50, help="NC steps on 100 clean samples")
    ap.add_argument("--collect", action="store_true")
    ap.add_argument("--table", action="store_true")
    ap.add_argument("--out", help="merge the table's numbers into this JSON under 'budget'")
    args = ap.parse_args()
    args.cache = args.cache or str(Path(args.zoo) / "budget_evidence.jsonl")
    if args.collect:
        collect(args)
    if args.table:
        table(args)


if __name__ == "__main__":
    main()
