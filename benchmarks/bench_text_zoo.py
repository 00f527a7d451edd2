"""Text backdoor detectors on a text zoo (``nnsafety zoo --design text_recipes --data fine_foods``).

For every model runs the weights-only ``embedding_outlier``, ``vocab_scan``, ``dbs_inversion``, ``firm_scan`` and ``lexicon_scan``,
``trigger_inversion`` with 1-word triggers and ``vocab_scan`` on the first 100 clean test reviews
(the audit's setting) and the data-free token-noise titration, keeping every statistic (the 2-word and data-free inversions cost minutes per model on
the shared machine and were left out of the zoo run).
Usable models: clean ones, and backdoored ones with ASR ≥ 0.9 (``zoo.zoo_labels``). Scores are
then judged held out by seed: the statistic and threshold of each detector are chosen on the models
with an even training seed (best AUC, then the threshold with the best balanced accuracy) and
reported on the odd-seed models. Target accuracy: the share of implanted models whose
suspected class is the attacker's target.

    OMP_NUM_THREADS=1 python benchmarks/bench_text_zoo.py runs/zoo_text --out docs/results/text_zoo.json

A second zoo of new seeds is judged with the statistics and thresholds chosen on the first one:

    python benchmarks/bench_text_zoo.py runs/zoo_text_s1 --out docs/results/text_zoo_s1.json \
        --rules docs/results/text_zoo.json

Several zoos' score files are pooled with ``--pool`` (nothing is rescored): without ``--rules`` each
detector's statistic and threshold are chosen on all their usable models (a design set), with
``--rules`` the rules chosen elsewhere are judged on them (a test set). ``--only`` scores a subset.

    python benchmarks/bench_text_zoo.py --pool A.json B.json --out design.json
    python benchmarks/bench_text_zoo.py --pool C.json D.json --rules design.json --out test.json
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Optional  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from nnsafety import runs  # noqa: E402
from nnsafety.backdoor.detect import run_context  # noqa: E402
from nnsafety.backdoor.detectors import create_detector  # noqa: E402
from nnsafety.backdoor.detectors.dbs_text import STATISTICS as DBS_STATISTICS  # noqa: E402
from nnsafety.backdoor.detectors.firm_scan import STATISTICS as FIRM_STATISTICS  # noqa: E402
from nnsafety.backdoor.detectors.lexicon_scan import STATISTICS as LEX_STATISTICS  # noqa: E402
from nnsafety.backdoor.detectors.vocab_scan import STATISTICS  # noqa: E402
from nnsafety.backdoor.evaluate_zoo import roc_auc  # noqa: E402
from nnsafety.backdoor.scan_eval import bootstrap_auc  # noqa: E402
from nnsafety.backdoor.zoo import read_manifest, zoo_labels  # noqa: E402

N_PROBES = 100  # clean test reviews (the first 100, as the audit) or random-word probes per model
DETECTORS = {  # name -> (registered detector, settings, data-free?)
    "embedding_outlier": ("embedding_outlier", {}, True),
    "inversion_1w": ("trigger_inversion", {"length": 1, "n_probes": N_PROBES}, False),
    "vocab_scan": ("vocab_scan", {"data_free": True}, True),
    "vocab_scan_clean": ("vocab_scan", {"data_free": False}, False),
    "dbs_inversion": ("dbs_inversion", {}, True),
    "firm_scan": ("firm_scan", {}, True),
    "lexicon_scan": ("lexicon_scan", {}, True),
}
STATS = ("flip_rate", "target_prob", "hard_flip_rate") + STATISTICS + DBS_STATISTICS + FIRM_STATISTICS + LEX_STATISTICS
STALE = {"vocab_scan": STATISTICS, "vocab_scan_clean": STATISTICS, "firm_scan": FIRM_STATISTICS}  # rescored when a statistic is missing
KEEP = ("margin_k", "flip_k", "word_id", "top_words", "positive_class")  # per trigger length, kept for the tables (not statistics)
FAMILIES = ("rare_word", "insert_sent", "char")


def score_model(path: Path, out: Optional[dict] = None, only: Optional[list] = None) -> dict:
    """Every detector's statistics on one model (only those missing from ``out``, when given; with
    ``only``, just those detectors, ``noise_df`` included if named)."""
    from nnsafety.metrics.noise_text import text_noise_response

    run = runs.load_run(path)
    ctx = run_context(run, n_clean=N_PROBES)
    out = dict(out or {})
    for name, (det, kw, _) in DETECTORS.items():
        if only is not None and name not in only:
            continue
        if name in out and not set(STALE.get(name, ())) - set(out[name]):
            continue
        t0 = time.process_time()
        r = create_detector(det, **kw).detect(run.model, ctx)
        out[name] = ({k: r.details[k] for k in STATS + KEEP if k in r.details} if set(STATS) & set(r.details)
                     else {"score": [r.score if c == r.target_class else 0.0 for c in range(ctx.num_classes)]})
        out[name]["cpu_s"] = time.process_time() - t0
    if "noise_df" in out or (only is not None and "noise_df" not in only):
        return out
    x = ctx.clean[0]
    t0 = time.process_time()
    nr = text_noise_response(run.model, ctx.domain, family="token_replace", n_probes=300,
                             lengths=(x != 0).sum(1), max_len=x.shape[1], seed=0, num_classes=ctx.num_classes)
    out["noise_df"] = {"collapse": [float(v) for v in nr.class_collapse], "cpu_s": time.process_time() - t0}
    return out


def _best_threshold(y: np.ndarray, s: np.ndarray) -> float:
    cands = np.unique(s)
    bal = [((s[y == 1] >= c).mean() + (s[y == 0] < c).mean()) / 2 for c in cands]
    return float(cands[int(np.argmax(bal))])


TARGET_BY = {"firm_scan": "best", "lexicon_scan": "unexplained"}  # detectors whose suspected target is the largest class of another statistic


def _per_stat(rows: list, name: str, st: str):
    vals = np.array([r["scores"][name][st] for r in rows])  # models × classes
    if name in TARGET_BY:  # as the detector itself: the statistic of the class it suspects
        cls = np.array([r["scores"][name][TARGET_BY[name]] for r in rows]).argmax(1)
        return vals[np.arange(len(rows)), cls], cls
    return vals.max(1), vals.argmax(1)


def _judge(rows: list, s: np.ndarray, cls: np.ndarray, thr: float) -> dict:
    """AUC with bootstrap CI, TPR/FPR at ``thr``, target accuracy and per-family AUC on ``rows``."""
    y = np.array([r["label"] for r in rows])
    fam = np.array([r["trigger"] or "clean" for r in rows])
    tgt = np.array([r["target"] if r["target"] is not None else -1 for r in rows])
    flagged = s >= thr
    hit = (cls == tgt)[y == 1]
    return {"auc_held_out": roc_auc(y, s), "auc_ci": list(bootstrap_auc(y, s)),
            "tpr": float(flagged[y == 1].mean()), "fpr": float(flagged[y == 0].mean()),
            "target_accuracy": float(np.mean(hit)) if len(hit) else float("nan"),
            "auc_held_out_family": {f: roc_auc(y[(fam == f) | (fam == "clean")], s[(fam == f) | (fam == "clean")])
                                    for f in FAMILIES if (fam == f).any()},
            "n_held_out": len(rows), "n_backdoored_held_out": int(y.sum())}


def evaluate(rows: list, rules: Optional[list] = None, design: bool = False) -> list:
    """Statistic and threshold per detector chosen on the even-seed models, judged on the odd-seed
    ones; with ``design`` chosen on every model here (a design set, judged elsewhere); with ``rules``
    (another zoo's table) those choices are judged on every model here."""
    y = np.array([r["label"] for r in rows])
    odd = np.zeros(len(rows), dtype=bool) if design else np.array([r["seed"] % 2 == 1 for r in rows])
    fixed = {t["detector"]: t for t in rules or []}
    table = []
    for name in [n for n in list(DETECTORS) + ["noise_df"] if n in rows[0]["scores"]]:
        data_free = DETECTORS[name][2] if name in DETECTORS else True
        cpu = float(np.mean([r["scores"][name]["cpu_s"] for r in rows]))
        if rules is not None:
            if name not in fixed:
                continue
            pick, thr = fixed[name]["statistic"], fixed[name]["threshold"]
            s, cls = _per_stat(rows, name, pick)
            table.append({"detector": name, "data_free": data_free, "statistic": pick, "threshold": thr,
                          "rule_from": fixed[name].get("rule_from_here", "another zoo's even seeds"),
                          **_judge(rows, s, cls, thr), "cpu_s_per_model": cpu})
            continue
        stats = ["collapse"] if name == "noise_df" else [k for k in STATS + ("score",) if k in rows[0]["scores"][name]]
        per = {st: _per_stat(rows, name, st) for st in stats}
        pick = max(stats, key=lambda st: roc_auc(y[~odd], per[st][0][~odd]))
        s, cls = per[pick]
        thr = _best_threshold(y[~odd], s[~odd])
        if design:
            table.append({"detector": name, "data_free": data_free, "statistic": pick, "threshold": thr,
                          "rule_from_here": "the design zoos", **_judge(rows, s, cls, thr),
                          "auc_per_statistic": {st: roc_auc(y, per[st][0]) for st in stats}, "cpu_s_per_model": cpu})
            continue
        held = [r for r, o in zip(rows, odd) if o]
        table.append({"detector": name, "data_free": data_free, "statistic": pick, "threshold": thr,
                      **_judge(held, s[odd], cls[odd], thr), "auc_all": roc_auc(y, s),
                      "auc_fit": roc_auc(y[~odd], s[~odd]), "cpu_s_per_model": cpu})
    return table


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("zoo", nargs="?")
    ap.add_argument("--out", required=True)
    ap.add_argument("--pool", nargs="+", metavar="SCORES",
                    help="score files written by this script: pool their usable models (nothing is scored) and "
                         "choose each detector's statistic and threshold on all of them (a design set), or with "
                         "--rules judge the rules chosen elsewhere on them (a test set)")
    ap.add_argument("--rules", help="a table written by this script on another zoo: judge its statistics and "
                                    "thresholds on every model of this zoo (new seeds) instead of choosing them here")
    ap.add_argument("--only", help="comma-separated detectors to score (default: all, and noise_df); "
                                   "the others are left out of the scores and the table")
    args = ap.parse_args()
    only = args.only.split(",") if args.only else None
    unknown = sorted(set(only or []) - set(DETECTORS) - {"noise_df"})
    if unknown:
        ap.error(f"unknown detector(s) {', '.join(unknown)}; expected some of {', '.join(list(DETECTORS) + ['noise_df'])}")
    rules = json.loads(Path(args.rules).read_text())["table"] if args.rules else None
    if (args.zoo is None) == (args.pool is None):
        ap.error("expected a zoo folder or --pool SCORES..., not both or neither")
    if args.pool:
        pooled = []
        for f in args.pool:
            pooled += [{**r, "zoo": f} for r in json.loads(Path(f).read_text())["models"] if r["usable"]]
        table = evaluate(pooled, rules, design=rules is None)
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"table": table, "pooled": args.pool}, indent=1) + "\n")
        for t in table:
            print(json.dumps(t))
        return
    torch.set_num_threads(1)
    zoo = Path(args.zoo)
    out = Path(args.out)
    done = {r["id"]: r for r in json.loads(out.read_text())["models"]} if out.is_file() else {}
    records = read_manifest(zoo)
    usable = {r["id"] for r in zoo_labels(records)}
    rows = []
    for rec in records:
        have = done[rec["id"]]["scores"] if rec["id"] in done else {}
        stale = any(set(v) - set(have.get(k, v)) for k, v in STALE.items())
        if rec["id"] in done and (set(only or DETECTORS) - set(have) or stale):
            done[rec["id"]]["scores"] = score_model(zoo / rec["path"], done[rec["id"]]["scores"], only)
        row = done.get(rec["id"]) or {"id": rec["id"], "seed": rec["seed"], "arch": rec["arch"],
                                       "trigger": rec["trigger"], "target": rec["target"], "rate": rec["rate"],
                                       "asr": rec["asr"], "c_acc": rec["c_acc"], "attacker": rec.get("attacker"),
                                       "scores": score_model(zoo / rec["path"], only=only)}
        row["label"] = int(rec["backdoored"])
        row["usable"] = rec["id"] in usable
        rows.append(row)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"table": [], "models": rows}, indent=1) + "\n")  # resumable after a kill
        print(rec["id"], rec["trigger"], rec["asr"], {k: round(max(next(v[s] for s in STATS + ("collapse", "score") if s in v)), 3)
                                                     for k, v in row["scores"].items()}, flush=True)
    table = evaluate([r for r in rows if r["usable"]], rules)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"table": table, "models": rows}, indent=1) + "\n")
    for t in table:
        print(json.dumps(t))


if __name__ == "__main__":
    main()
