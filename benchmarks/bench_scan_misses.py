"""What limits the scan's AUC: a miss analysis on the held-out (leave-one-recipe-out) predictions.

For every backdoored model scored on a recipe the regressions never saw: was it flagged at the stated
threshold (nested, as in the tables), and how far each detector group's calibrated score got (the
fraction of the fitted clean models that group's regression scores at or below it; the scan's score
is the largest). TPR per trigger family, poison-rate band, ASR band, attacker type and architecture;
the flagged clean models per recipe; and for the missed models the raw evidence a reason can be read
from (inverted-mask norm, patch and warp response, noise titration), as percentiles of the same
quantity over all clean models. Nothing is fitted on a scored model; no detector is refitted here.

Run:
    OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_scan_misses.py \
        runs/zoo_recipes/scan_evidence_v3.jsonl runs/zoo_recipes/scan_evidence_a2a.jsonl --out docs/results/backdoor_scan.json
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_scan import TARGET_FPR  # noqa: E402

from nnsafety.backdoor import scan_eval as se  # noqa: E402
from nnsafety.backdoor.evidence import FEATURES, GROUPS, static_features  # noqa: E402

STEPS = (10, 5)  # the standard budget (NC / UAP steps)
RAW = ("nc_log_min", "nc_anomaly", "patch_cz_max", "uap_cz_max", "warp_mean_z", "noise_z_max", "noise_fraction_max")


def band(r):
    """The subsets of one backdoored model's row (key=value labels)."""
    rate, asr = float(r.get("rate") or 0), float(r.get("asr") or 0)
    rb = "rate<5%" if rate < 0.05 else "rate 5-8%" if rate < 0.08 else "rate>=8%"
    ab = "ASR<0.95" if asr < 0.95 else "ASR 0.95-0.99" if asr < 0.99 else "ASR>=0.99"
    return [f"family={r['family']}", f"attacker={r['attacker']}", f"arch={r['arch']}", rb, ab]


def heldout(rows, key):
    """Per model: held-out score, verdict (nested threshold), each group's calibrated part score."""
    scorer = se.Scorer(rows, STEPS, key, groups=GROUPS)
    n = len(rows)
    score, verdict = np.full(n, np.nan), np.zeros(n, bool)
    parts = {g: np.full(n, np.nan) for g in GROUPS}
    raw = {f: np.full(n, np.nan) for f in RAW}
    target = np.full(n, -1)
    for fit, sc in se.recipe_folds(rows):
        target[sc] = scorer.targets(fit, sc)
        X = scorer.matrix(fit)
        model = se.fit_model(X[fit], scorer.y[fit], FEATURES, GROUPS)
        score[sc] = se.predict_model(model, X[sc])
        verdict[sc] = score[sc] >= se.nested_threshold(scorer, fit, TARGET_FPR)
        for m in model["parts"]:
            s = se.predict(m, X[sc][:, [FEATURES.index(c) for c in m["features"]]])
            parts[m["group"]][sc] = np.searchsorted(np.asarray(m["clean_scores"]), s, side="right") / len(m["clean_scores"])
        for f in RAW:
            raw[f][sc] = X[sc][:, FEATURES.index(f)]
    return scorer.y, score, verdict, parts, raw, target


def analyse(rows, key):
    y, score, verdict, parts, raw, target = heldout(rows, key)
    bd = np.flatnonzero(y == 1)
    tt = np.asarray([r["target"] if r["label"] == 1 and r.get("mode") != "all_to_all" else -1 for r in rows])
    hit, flagged = target == tt, verdict & (tt >= 0)
    out = {"all": {"n": len(bd), "tpr": float(verdict[bd].mean()), "fpr": float(verdict[y == 0].mean()),
                   "target_acc": float(hit[tt >= 0].mean()), "target_acc_flagged": float(hit[flagged].mean()),
                   "n_flagged": int(flagged.sum()), "target_acc_missed": float(hit[(tt >= 0) & ~verdict].mean())}}
    fam, att = (np.asarray([str(r[k]) for r in rows]) for k in ("family", "attacker"))
    out["auc_without"] = {}  # the held-out AUC if a group of backdoors were left out (same scores)
    for name, drop in (("none", np.zeros(len(rows), bool)), ("wanet", fam == "wanet"), ("noise_aware", att == "noise_aware"),
                       ("wanet and noise_aware", (fam == "wanet") | (att == "noise_aware"))):
        m = ~drop | (y == 0)
        out["auc_without"][name] = {"auc": se.roc_auc(y[m], score[m]), "auc_ci": se.bootstrap_auc(y[m], score[m]),
                                    "n_backdoored": int(y[m].sum())}
    labels = {}
    for i in bd:
        for lab in band(rows[i]):
            labels.setdefault(lab, []).append(i)
    for lab in sorted(labels):
        idx = np.asarray(labels[lab])
        miss = idx[~verdict[idx]]
        out[lab] = {"n": len(idx), "tpr": float(verdict[idx].mean()), "missed": len(miss),
                    # how close the missed models came: median over them of each group's clean percentile
                    "missed_group_pct": {g: float(np.median(p[miss])) if len(miss) else None for g, p in parts.items()},
                    # their raw evidence as the percentile of the same number over all clean models
                    "missed_raw_pct": {f: float(np.median([(v[y == 0] < v[i]).mean() for i in miss])) if len(miss) else None
                                       for f, v in raw.items()}}
    clean = {}
    for i in np.flatnonzero(y == 0):
        c = clean.setdefault(rows[i]["recipe"], [0, 0])
        c[0], c[1] = c[0] + int(verdict[i]), c[1] + 1
    out["clean_flagged_by_recipe"] = {k: {"flagged": a, "n": b} for k, (a, b) in sorted(clean.items())}
    return out


def a2a_percentiles(rows, a2a, key):
    """All-to-all backdoors below the implant bar: where their untargeted evidence sits among the
    clean models (median percentile), all of them and those with ASR ≥ 0.7."""
    clean = [static_features(r[key], *STEPS) for r in rows if r["label"] == 0]
    out = {}
    for name, sub in (("all", a2a), ("ASR>=0.7", [r for r in a2a if r["asr"] >= 0.7])):
        feats = [static_features(r[key], *STEPS) for r in sub]
        out[name] = {"n": len(sub), **{f: float(np.median([(np.asarray([c[f] for c in clean]) < d[f]).mean() for d in feats]))
                                       for f in ("patch_untargeted", "patch_dest_share", "warp_flip", "uap_asr_max")}}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cache")
    ap.add_argument("a2a", nargs="?", help="the all-to-all evidence (bench_scan.py --all-to-all)")
    ap.add_argument("--out", help="merge into this JSON under 'misses'")
    args = ap.parse_args()
    rows = se.read_cache(args.cache)
    res = {}
    for key in ("evidence", "evidence_data"):
        res[key] = analyse(rows, key)
        print(f"\n### {key} (leave-one-recipe-out, standard, nested threshold)\n")
        print("| subset | n | TPR | missed | missed: best group's clean pct (noise / inversion / patch / warp) |\n|---|---|---|---|---|")
        for lab, d in res[key].items():
            if lab in ("all", "clean_flagged_by_recipe", "auc_without"):
                continue
            g = d["missed_group_pct"]
            cell = " / ".join("-" if g[k] is None else f"{g[k]:.2f}" for k in GROUPS)
            print(f"| {lab} | {d['n']} | {d['tpr']:.2f} | {d['missed']} | {cell} |")
        print("all:", res[key]["all"])
        for name, d in res[key]["auc_without"].items():
            print(f"AUC without {name}: {d['auc']:.3f} [{d['auc_ci'][0]:.3f}, {d['auc_ci'][1]:.3f}] ({d['n_backdoored']} backdoored)")
        print("clean flagged by recipe:", {k: f"{v['flagged']}/{v['n']}" for k, v in res[key]["clean_flagged_by_recipe"].items() if v["flagged"]})
        for lab in ("family=wanet", "attacker=noise_aware", "family=patch_bright", "rate<5%"):
            if lab in res[key]:
                print(lab, "missed raw pct:", {k: None if v is None else round(v, 2) for k, v in res[key][lab]["missed_raw_pct"].items()})
    if args.a2a:
        a2a = se.read_cache(args.a2a)
        res["all_to_all_pct"] = {key: a2a_percentiles(rows, a2a, key) for key in ("evidence", "evidence_data")}
        print("all-to-all, clean percentiles:", json.dumps(res["all_to_all_pct"]))
    if args.out:
        out = Path(args.out)
        doc = json.loads(out.read_text()) if out.is_file() else {}
        doc["misses"] = {"split": "leave-one-recipe-out", "steps": list(STEPS), "results": res}
        tmp = out.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc, indent=1, default=float))
        tmp.replace(out)


if __name__ == "__main__":
    main()
