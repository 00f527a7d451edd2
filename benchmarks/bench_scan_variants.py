"""Which evidence enters the scan: held-out AUC of detector-group variants (the selection step of
docs/results.md, "Backdoor scan"). No nested thresholds; NC 20 / UAP 5 steps.

Run (after ``bench_scan.py --collect --with-data`` and ``--all-to-all``):
    OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_scan_variants.py \
        ZOO/scan_evidence.jsonl ZOO/scan_evidence_a2a.jsonl
Rule, fixed before looking: the mean leave-one-recipe-out AUC over data-free and with samples;
variants within 0.005 of the best tie; ties go to the best mean attacker-split AUC.

``--targets``: the suspected-target rule. Held-out target accuracy of the strongest-detector rule
(``evidence.suspected_target``) and of the per-class calibrated vote (``evidence.calibrated_target``),
and of choosing between them per fold by their accuracy on that fold's fitted (training) rows.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_scan import a2a_table  # noqa: E402

from nnsafety.backdoor import scan_eval as se  # noqa: E402
from nnsafety.backdoor.evidence import FEATURES, GROUPS, suspected_target  # noqa: E402

OLD = {"noise": ["noise_z_max", "noise_z_block_max", "noise_z_block_mean", "noise_fraction_max", "noise_entropy",
                 "agree_count", "agree_strength"],
       "inversion": ["nc_anomaly", "nc_log_ratio", "nc_log_min", "nc_second_ratio", "uap_anomaly", "uap_asr_max",
                     "uap_asr_gap", "uap_ce_gap", "uap_top_gap", "uap_ce_top_gap"],
       "patch": ["patch_flip_max", "patch_anomaly", "patch_gap"]}
WARP = ["warp_mean_max", "warp_mean_z", "warp_max_max", "warp_flip"]
UNTARGETED = ["patch_untargeted", "patch_dest_share"]
CZ = {**OLD, "inversion": OLD["inversion"] + ["uap_cz_max"], "patch": OLD["patch"] + ["patch_cz_max"]}
CZP = {**CZ, "patch": CZ["patch"] + ["patch_spread"] + UNTARGETED}
VARIANTS = {
    "last session's groups": OLD,
    "+ per-class z": CZ,
    "+ per-class z + spread/untargeted in patch": CZP,
    "+ the above + warp group (evidence.GROUPS)": {**CZP, "warp": WARP},
    "per-class z + warp group + untargeted group": {**CZ, "warp": WARP[:3], "untargeted": UNTARGETED + ["warp_flip"]},
    "warp features in the inversion group": {**CZ, "inversion": CZ["inversion"] + WARP, "patch": CZ["patch"] + UNTARGETED},
    "smaller warp + untargeted groups": {**CZ, "warp": ["warp_mean_z", "warp_mean_max"], "untargeted": UNTARGETED},
    "one warp + untargeted group": {**CZ, "warp_untargeted": WARP + UNTARGETED},
    "old groups + warp group only": {**OLD, "warp": WARP},
}
STEPS = (20, 5)


def evaluate(rows, a2a, groups, key):
    """Held-out AUC per split, on noise-aware and WaNet subsets, and on all-to-all models below the bar."""
    y = np.asarray([r["label"] for r in rows])
    att, fam = (np.asarray([str(r[k]) for r in rows]) for k in ("attacker", "family"))
    scorer = se.Scorer(rows, STEPS, key, names=FEATURES, groups=groups)
    out = {}
    for split in se.SPLITS:
        h = se.heldout_scores(scorer, split, nested=False)
        m = h["scored"]
        out[split] = se.roc_auc(y[m], h["score"][m])
        if split == "leave-one-recipe-out":
            for sub, mask in (("noise_aware", att == "noise_aware"), ("wanet", fam == "wanet")):
                mm = m & ((y == 0) | mask)
                out[sub] = se.roc_auc(y[mm], h["score"][mm])
    if a2a:  # per recipe: fitted on the other recipes' usable models, never on an all-to-all one
        out["all_to_all"] = a2a_table(rows, a2a, STEPS, groups)[f"{key} | ASR ≥ 0.0"]["auc"]
    return out


def target_rules(rows, key, steps=(10, 5)):
    """Per split: held-out target accuracy of each rule and of the per-fold choice on training rows."""
    scorer = se.Scorer(rows, steps, key, groups=GROUPS)
    tt = np.asarray([r["target"] if r["label"] == 1 and r.get("mode") != "all_to_all" else -1 for r in rows])
    out = {}
    for split, folds in se.SPLITS.items():
        hits, chosen = {"strongest": [], "calibrated": [], "chosen on training rows": []}, []
        for fit, sc in folds(rows):
            if not sc.any():
                continue
            everyone = np.ones(len(rows), bool)
            z = scorer._z(fit)
            pred = {"strongest": np.asarray([suspected_target(scorer._suspicion(z, i))[0] for i in range(len(rows))]),
                    "calibrated": np.asarray(scorer.targets(fit, everyone))}
            train = {k: np.mean(p[fit & (tt >= 0)] == tt[fit & (tt >= 0)]) for k, p in pred.items()}
            best = max(train, key=lambda k: (train[k], k == "calibrated"))
            chosen.append(best)
            m = sc & (tt >= 0)
            for k, p in pred.items():
                hits[k] += list(p[m] == tt[m])
            hits["chosen on training rows"] += list(pred[best][m] == tt[m])
        out[split] = {**{k: float(np.mean(v)) for k, v in hits.items()}, "n": len(hits["strongest"]),
                      "calibrated chosen in folds": f"{chosen.count('calibrated')}/{len(chosen)}"}
    return out


def main() -> None:
    if sys.argv[1] == "--targets":
        rows = se.read_cache(sys.argv[2])
        for key in ("evidence", "evidence_data"):
            for split, d in target_rules(rows, key).items():
                print(key, split, {k: round(v, 3) if isinstance(v, float) else v for k, v in d.items()}, flush=True)
        return
    rows = se.read_cache(sys.argv[1])
    a2a = se.read_cache(sys.argv[2]) if len(sys.argv) > 2 else []
    print("| variant | recipe AUC data-free / samples | attacker AUC | WaNet | all-to-all |\n| --- | --- | --- | --- | --- |")
    for name, groups in VARIANTS.items():
        r = [evaluate(rows, a2a, groups, key) for key in ("evidence", "evidence_data")]
        cell = lambda k: f"{r[0].get(k, float('nan')):.3f} / {r[1].get(k, float('nan')):.3f}"  # noqa: E731
        print(f"| {name} | {cell('leave-one-recipe-out')} | {cell('attacker')} | {cell('wanet')} | {cell('all_to_all')} |",
              flush=True)


if __name__ == "__main__":
    main()
