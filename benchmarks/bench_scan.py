"""Backdoor scan benchmark: evidence of a reference zoo, held-out tables, budget curve, the reference JSON.

Run (after ``nnsafety zoo --design recipes --n 400 --out ZOO``; every step is resumable):
    OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_scan.py --zoo ZOO --collect
    ... bench_scan.py --zoo ZOO --curve            # AUC (leave-one-recipe-out) per inversion steps
    ... bench_scan.py --zoo ZOO --time 12          # seconds per model of scan() per budget
    ... bench_scan.py --zoo ZOO --tables --fit src/nnsafety/backdoor/reference/digits_recipes.json
Prints markdown tables (docs/results.md, "Backdoor scan") and writes every number to ZOO/scan_results.json.
Goals (issue 16): held-out AUC ≥ 0.95 overall, ≥ 0.85 on adaptive attackers; FPR ≤ 5 % on clean
models of held-out recipes; target class ≥ 0.9; ≤ 2 s per digits model (standard, data-free).
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
from nnsafety.backdoor.evidence import FEATURES, GROUPS, WEIGHT_FEATURES, features  # noqa: E402

NC_STEPS = (10, 20, 30, 45)
UAP_STEPS = (5, 10, 20)
TARGET_FPR = 0.04  # the nested threshold's aim, below the 5 % goal to leave room for fold-to-fold spread


def _fmt(d):
    ci = d.get("auc_ci", [float("nan")] * 2)
    cols = [f"{d['auc']:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]", f"{d['tpr_at_5fpr']:.2f}"]
    cols.append(f"{d['fpr']:.3f} / {d['tpr']:.2f}" if "fpr" in d else "-")
    cols.append(f"{d['target_accuracy']:.2f} ({d['n_target']})" if "target_accuracy" in d else "-")
    cols.append(f"{d['n_clean']} / {d['n_backdoored']}")
    return " | ".join(cols)


HEAD = ("| split | subset | AUC [95 % CI] | TPR@5%FPR | verdict FPR / TPR | target acc (n) | clean / backdoored |\n"
        "|---|---|---|---|---|---|---|")


def subsets(rows, res, split):
    """Rows of the table: everything scored, then per attacker / family / mode / arch vs all scored clean."""
    y = np.asarray([r["label"] for r in rows])
    sc = res["scored"]
    true_t = [r["target"] if r.get("mode") != "all_to_all" else None for r in rows]
    out = [("all", sc)]
    for key in ("attacker", "family", "mode", "arch"):
        vals = sorted({str(r.get(key)) for r, s, yy in zip(rows, sc, y) if s and yy == 1})
        if len(vals) > 1 or split != "leave-one-recipe-out":
            for v in vals:
                m = sc & ((y == 0) | (np.asarray([str(r.get(key)) for r in rows]) == v))
                out.append((f"{key}={v}", m))
    lines = []
    for name, m in subsets_mask(out):
        d = se.summarize(y[m], res["score"][m], res["verdict"][m], list(res["target"][m]),
                         [t for t, k in zip(true_t, m) if k])
        lines.append((name, d))
    return lines


def subsets_mask(out):
    return [(n, m) for n, m in out if m.any()]


def tables(rows, steps, key, split_names=tuple(se.SPLITS)):
    scorer = se.Scorer(rows, steps, key, groups=GROUPS)
    results, md = {}, [HEAD]
    for split in split_names:
        t0 = time.perf_counter()
        res = se.heldout_scores(scorer, split, TARGET_FPR)
        results[split] = {}
        for name, d in subsets(rows, res, split):
            results[split][name] = d
            md.append(f"| {split} | {name} | {_fmt(d)} |")
        print(f"[tables] {split} {time.perf_counter() - t0:.1f}s", file=sys.stderr, flush=True)
    return results, "\n".join(md)


def baselines(rows, steps, key="evidence"):
    """Single signals on the same rows: unsupervised anomaly scores and the old packaged digits
    reference (no fit: AUC over all usable models), and each signal's features alone (held out)."""
    from nnsafety.backdoor.detectors import load_meta

    y = np.asarray([r["label"] for r in rows])
    ref = se.noise_reference(rows, key)  # only used for z features, which are not listed here
    out = {}
    for name in ("nc_anomaly", "uap_anomaly", "patch_anomaly", "noise_fraction_max", "w_head_norm_anomaly"):
        s = np.asarray([features(r[key], ref, *steps)[name] for r in rows])
        out[name] = se.summarize(y, s)
    res = se.heldout_scores(se.Scorer(rows, steps, key), "leave-one-recipe-out", nested=False)
    out["all features, one logistic regression (last session's combiner), leave-one-recipe-out"] = \
        se.summarize(y, res["score"])
    for group in ("noise", "nc", "uap", "patch", "warp", "w_", "agree"):  # one signal's features alone, leave-one-recipe-out
        names = [f for f in FEATURES + WEIGHT_FEATURES if f.startswith(group)]
        res = se.heldout_scores(se.Scorer(rows, steps, key, names=names), "leave-one-recipe-out", nested=False)
        out[f"{group} features only, logistic, leave-one-recipe-out"] = se.summarize(y, res["score"])
    old = load_meta("digits")
    s = old.predict_proba([np.asarray(r[key]["profile"]).flatten().tolist() for r in rows])
    out["digits reference (ProfileMeta, old)"] = {**se.summarize(y, s), "fpr": float((s[y == 0] >= 0.5).mean()),
                                                   "tpr": float((s[y == 1] >= 0.5).mean())}
    return out


def curve(rows, key="evidence"):
    """Leave-one-recipe-out AUC (no nested thresholds) per (NC steps, UAP steps)."""
    out = []
    cap = _steps_for(rows, (max(NC_STEPS), max(UAP_STEPS)), key)  # settings every row recorded
    for n in NC_STEPS:
        for u in UAP_STEPS:
            if n > cap[0] or u > cap[1]:
                continue
            scorer = se.Scorer(rows, (n, u), key, groups=GROUPS)
            res = se.heldout_scores(scorer, "leave-one-recipe-out", nested=False)
            y = scorer.y
            out.append({"nc_steps": n, "uap_steps": u, "auc": se.roc_auc(y, res["score"]),
                        "tpr_at_5fpr": se.tpr_at_fpr(y, res["score"])})
            print(f"[curve] nc {n} uap {u} auc {out[-1]['auc']:.3f}", file=sys.stderr, flush=True)
    return out


def cost_model(rows, nc: int, uap: int) -> float:
    """Estimated seconds per model at (nc, uap) steps: the recorded parts of each model's evidence run,
    inversion parts scaled by steps (each step costs the same), median over models (the first model of
    a process pays a one-off warm-up)."""
    out = []
    for r in rows:
        ev, sec = r["evidence"], r["evidence"]["seconds"]
        out.append(sec["noise"] + sec["bases"] + sec["weights"] + sec["nc"] * nc / ev["nc_steps"]
                   + sec["uap"] * uap / ev["uap_steps"])
    return float(np.median(out))


def choose_budgets(rows, curve_rows, quick_ratio: float = 0.95, slack: float = 0.01):
    """Budgets from the measured curve: thorough = the best held-out AUC; standard = the cheapest
    setting within ``slack`` of it; quick = the cheapest setting with ≥ ``quick_ratio`` × standard's
    AUC (the issue asks ≥ 0.9; 0.95 leaves room for the curve's own noise)."""
    pts = [dict(c, cost=cost_model(rows, c["nc_steps"], c["uap_steps"])) for c in curve_rows]
    best = max(pts, key=lambda c: (round(c["auc"], 3), c["cost"]))
    standard = min((c for c in pts if c["auc"] >= best["auc"] - slack), key=lambda c: c["cost"])
    quick = min((c for c in pts if c["auc"] >= quick_ratio * standard["auc"]), key=lambda c: c["cost"])
    return {name: (c["nc_steps"], c["uap_steps"]) for name, c in
            (("quick", quick), ("standard", standard), ("thorough", best))}, pts


def time_budgets(zoo, rows, settings, n=12, seed=0):
    """Median CPU seconds (process time: this machine is shared, wall time is 2–5× more under load) and
    wall seconds of the scan's evidence per budget over n models (half mlp, half cnn), alternating."""
    from nnsafety import runs
    from nnsafety.backdoor.detect import run_context
    from nnsafety.backdoor.evidence import collect_evidence

    picks = [r for r in rows if r["arch"] == "mlp"][: n // 2] + [r for r in rows if r["arch"] == "cnn"][: n - n // 2]
    per = {b: [] for b in settings}
    wall = {b: [] for b in settings}
    for r in picks:
        run = runs.load_run(Path(zoo) / r["id"])
        ctx = run_context(run)
        collect_evidence(run.model, ctx.in_shape, ctx.num_classes, seed=seed, nc_steps=2, uap_steps=2)  # warm-up
        for b, s in settings.items():
            t, c = time.perf_counter(), time.process_time()
            collect_evidence(run.model, ctx.in_shape, ctx.num_classes, seed=seed, **s)
            per[b].append(time.process_time() - c)
            wall[b].append(time.perf_counter() - t)
    return {b: {"median": float(np.median(v)), "mean": float(np.mean(v)), "max": float(np.max(v)),
                "median_mlp": float(np.median(v[: n // 2])), "median_cnn": float(np.median(v[n // 2:])),
                "median_wall": float(np.median(wall[b]))} for b, v in per.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--zoo", required=True)
    ap.add_argument("--cache", help="evidence JSON lines (default ZOO/scan_evidence.jsonl)")
    ap.add_argument("--collect", action="store_true")
    ap.add_argument("--follow", type=float, default=0, help="with --collect: keep polling the zoo for this many minutes")
    ap.add_argument("--steps", help="with --collect: NC,UAP steps of the longest run (default: the curve's largest)")
    ap.add_argument("--with-data", dest="with_data", action="store_true",
                    help="with --collect: also the evidence from 100 clean test samples (doubles the time)")
    ap.add_argument("--curve", action="store_true")
    ap.add_argument("--tables", action="store_true")
    ap.add_argument("--budgets", help='JSON {"quick": [nc, uap], "standard": [...], "thorough": [...]}')
    ap.add_argument("--time", type=int, default=0)
    ap.add_argument("--fit", help="write the reference JSON here")
    ap.add_argument("--all-to-all", dest="a2a", action="store_true",
                    help="collect and score the zoo's all-to-all backdoors that missed the ASR ≥ 0.9 bar")
    ap.add_argument("--transfer", help="a packaged reference name: score a zoo of another input shape "
                                       "(unsupervised per-detector anomalies and the reference's transfer score)")
    args = ap.parse_args()
    zoo = Path(args.zoo)
    cache = Path(args.cache or zoo / "scan_evidence.jsonl")
    out_path = zoo / "scan_results.json"
    results = json.loads(out_path.read_text()) if out_path.is_file() else {}
    if args.collect:
        t_end = time.time() + 60 * args.follow
        while True:
            nc, uap = map(int, args.steps.split(",")) if args.steps else (max(NC_STEPS), max(UAP_STEPS))
            se.collect_zoo_evidence(zoo, cache, nc_steps=nc, uap_steps=uap,
                                    checkpoints=NC_STEPS + UAP_STEPS, with_data=args.with_data)
            if time.time() > t_end:
                break
            time.sleep(30)
    rows = se.read_cache(cache)
    print(f"{len(rows)} models with evidence ({sum(r['label'] for r in rows)} backdoored); machine: {machine()}")
    budgets = {k: tuple(v) for k, v in json.loads(args.budgets).items()} if args.budgets else \
        {k: tuple(v) for k, v in results.get("budgets", {"quick": [20, 10], "standard": [30, 10],
                                                          "thorough": [45, 20]}).items()}
    results["budgets"] = {k: list(v) for k, v in budgets.items()}
    if args.curve:
        chosen, results["curve"] = choose_budgets(rows, curve(rows))
        if not args.budgets:
            budgets = chosen
            results["budgets"] = {k: list(v) for k, v in budgets.items()}
        print("| NC steps | UAP steps | AUC (leave-one-recipe-out) | TPR@5%FPR | est. s/model |\n|---|---|---|---|---|")
        for c in results["curve"]:
            print(f"| {c['nc_steps']} | {c['uap_steps']} | {c['auc']:.3f} | {c['tpr_at_5fpr']:.2f} | {c['cost']:.2f} |")
        print(f"chosen budgets (NC, UAP steps): {chosen}")
    if args.time:
        sett = {b: {"nc_steps": n, "uap_steps": u} for b, (n, u) in budgets.items()}
        results["seconds"] = time_budgets(zoo, rows, sett, args.time)
        print("| budget | NC / UAP steps | median CPU s/model | mlp | cnn | max | median wall s |\n"
              "|---|---|---|---|---|---|---|")
        for b, d in results["seconds"].items():
            print(f"| {b} | {budgets[b][0]} / {budgets[b][1]} | {d['median']:.2f} | {d['median_mlp']:.2f} | "
                  f"{d['median_cnn']:.2f} | {d['max']:.2f} | {d['median_wall']:.2f} |")
    if args.tables:
        results["tables"] = {}
        for b, steps in budgets.items():
            for key in ("evidence", "evidence_data"):
                if key == "evidence_data" and not all("evidence_data" in r for r in rows):
                    continue
                name = b + ("+data" if key == "evidence_data" else "")
                res, md = tables(rows, _steps_for(rows, steps, key), key)
                results["tables"][name] = res
                print(f"\n### {name} (NC {steps[0]} / UAP {steps[1]} steps)\n\n{md}")
        results["baselines"] = baselines(rows, budgets["standard"])
        print("\n| single signal (no fit) | AUC [95 % CI] | TPR@5%FPR | verdict FPR / TPR | target | n |\n|---|---|---|---|---|---|")
        for k, d in results["baselines"].items():
            print(f"| {k} | {_fmt(d)} |")
    if args.a2a:
        from nnsafety.backdoor.zoo import read_manifest

        recs = [dict(r, label=1) for r in read_manifest(zoo) if r.get("mode") == "all_to_all" and not r["implanted"]]
        extra = se.collect_zoo_evidence(zoo, zoo / "scan_evidence_a2a.jsonl", nc_steps=30, uap_steps=10,
                                        checkpoints=NC_STEPS + UAP_STEPS, with_data=True, records=recs)
        results["all_to_all"] = a2a_table(rows, extra, budgets["standard"])
        print("| evidence | all-to-all subset | AUC [95 % CI] | TPR@5%FPR | clean / backdoored |\n|---|---|---|---|---|")
        for name, d in results["all_to_all"].items():
            print(f"| {name} | {d['auc']:.3f} [{d['auc_ci'][0]:.3f}, {d['auc_ci'][1]:.3f}] | {d['tpr_at_5fpr']:.2f} | "
                  f"{d['n_clean']} / {d['n_backdoored']} |")
    if args.transfer:
        results["transfer"] = transfer(rows, args.transfer)
        print("| evidence | score | AUC [95 % CI] | TPR@5%FPR | clean / backdoored |\n|---|---|---|---|---|")
        for (key, name), d in results["transfer"].items():
            print(f"| {key} | {name} | {d['auc']:.3f} [{d['auc_ci'][0]:.3f}, {d['auc_ci'][1]:.3f}] | "
                  f"{d['tpr_at_5fpr']:.2f} | {d['n_clean']} / {d['n_backdoored']} |")
        results["transfer"] = {f"{k}|{n}": d for (k, n), d in results["transfer"].items()}
    if args.fit:
        results["reference"] = fit_reference(rows, budgets, results, Path(args.fit))
    out_path.write_text(json.dumps(results, indent=1, default=float))


def a2a_table(rows, extra, steps, groups=GROUPS):
    """All-to-all backdoors below the implant bar, scored like leave-one-recipe-out: per recipe, the
    regressions fitted on the usable models of the other recipes (never on any all-to-all model) score
    this recipe's clean models and all-to-all models; AUC per ASR band against all held-out clean."""
    out = {}
    for key in ("evidence", "evidence_data"):
        if not all(key in r for r in rows + extra):
            continue
        both = list(rows) + list(extra)
        is_extra = np.arange(len(both)) >= len(rows)
        scorer = se.Scorer(both, _steps_for(both, steps, key), key, groups=groups)
        g = np.asarray([str(r["recipe"]) for r in both])
        score = np.full(len(both), np.nan)
        for v in sorted(set(g)):
            fit, sc = (g != v) & ~is_extra, (g == v) & ((scorer.y == 0) | is_extra)
            if sc.any():
                score[sc] = scorer.fit_score(fit, sc)
        asr = np.asarray([r.get("asr") or 0.0 for r in both])
        for lo in (0.0, 0.7, 0.8):
            m = ~np.isnan(score) & ((scorer.y == 0) & ~is_extra | is_extra & (asr >= lo))
            out[f"{key} | ASR ≥ {lo:.1f}"] = se.summarize(scorer.y[m], score[m])
    return out


def transfer(rows, reference):
    """AUC on a zoo the reference does not cover (another input shape): each detector's unsupervised
    anomaly (no fit), and the reference's transfer score (``scan._transfer_score``: its parts that read
    no noise-profile feature, applied as fitted on digits) at the standard budget's steps."""
    from nnsafety.backdoor.scan import _self_reference, _transfer_score, load_reference

    ref = load_reference(reference)
    y = np.asarray([r["label"] for r in rows])
    out = {}
    for key in ("evidence", "evidence_data"):
        if not all(key in r for r in rows):
            continue
        entry = ref["budgets"]["standard+data" if key == "evidence_data" else "standard"]
        steps = _steps_for(rows, (entry["settings"]["nc_steps"], entry["settings"]["uap_steps"]), key)
        feats = [features(r[key], _self_reference(r[key]), *steps) for r in rows]
        for name in ("nc_anomaly", "uap_anomaly", "patch_anomaly", "patch_untargeted", "warp_mean_z", "noise_fraction_max"):
            out[(key, name)] = se.summarize(y, [f[name] for f in feats])
        out[(key, f"transfer score ({ref['name']})")] = se.summarize(y, [_transfer_score(entry["model"], f) for f in feats])
    return out


def _steps_for(rows, steps, key):
    """A budget's (NC, UAP) steps, capped at the longest run every row's ``key`` evidence recorded."""
    nc = min(max(int(k) for k in r[key]["nc_l1_at"]) for r in rows)
    uap = min(max(int(k) for k in r[key]["uap_at"]) for r in rows)
    return min(steps[0], nc), min(steps[1], uap)


def fit_reference(rows, budgets, results, path: Path):
    """The packaged reference: per budget the regression on all rows, the threshold from their
    leave-one-recipe-out clean scores, and the nested held-out FPR/TPR/AUC from the tables."""
    y = np.asarray([r["label"] for r in rows])
    ref_noise = se.noise_reference(rows)
    entries = {}
    for b, steps in budgets.items():
        for key in ("evidence", "evidence_data"):
            if key == "evidence_data" and not all("evidence_data" in r for r in rows):
                continue
            name = b + ("+data" if key == "evidence_data" else "")
            steps = _steps_for(rows, budgets[b], key)
            scorer = se.Scorer(rows, steps, key, groups=GROUPS)
            threshold = se.nested_threshold(scorer, np.ones(len(rows), bool), TARGET_FPR)
            X = se.feature_matrix(rows, se.noise_reference(rows, key, steps), steps, key)
            held = results["tables"][name]["leave-one-recipe-out"]["all"]
            entries[name] = {"settings": {"nc_steps": steps[0], "uap_steps": steps[1]},
                             "class_reference": se.class_reference([r[key] for r in rows if r["label"] == 0], steps),
                             "model": se.fit_combined(X, y, FEATURES, GROUPS), "threshold": threshold,
                             "heldout": {k: held[k] for k in ("auc", "auc_ci", "tpr_at_5fpr", "fpr", "tpr",
                                                                "n_clean", "n_backdoored", "target_accuracy")},
                             "split": "leave-one-recipe-out, nested thresholds"}
    ref = {"kind": "ScanReference", "version": 1, "name": path.stem, "data": "digits", "in_shape": [1, 8, 8],
           "num_classes": 10, "noise_reference": ref_noise, "budgets": entries,
           "zoo": {"command": "nnsafety zoo --design recipes --n 400 --seed 0", "n_models": len(rows),
                   "n_backdoored": int(y.sum()), "recipes": sorted({r["recipe"] for r in rows})},
           "machine": machine()}
    path.write_text(json.dumps(ref))
    return {"path": str(path), "thresholds": {k: v["threshold"] for k, v in entries.items()}}


if __name__ == "__main__":
    main()
