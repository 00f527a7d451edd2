"""Feature-space backdoors: explanation-guided clean-label poisoning and four detectors on a zoo.

For each dataset (spambase, phishing): ``seeds``·len(rates) clean MLPs (as many clean models as
poisoned ones) and, per poison rate, ``seeds`` poisoned ones (``explanation_guided`` trigger, Severi et al. 2021, target class 0 = the benign
class, poisoned samples keep their benign label; the poisoning draw and the training seed are the
model's seed). Measured per model: clean accuracy and attack success rate (triggered test inputs
of the other class predicted benign); per detector its score. Table 1: ASR per rate, next to the
same trigger's success on the clean models (what the trigger achieves without a backdoor).
Table 2: per detector, AUC of the score for poisoned vs clean over the models of the *odd* seeds,
and the TPR/FPR there at the threshold set on the *even* seeds (the largest clean score of the
even seeds: zero false positives on the calibration half), i.e. held out by seed.

``run_feature_backdoor_data`` scores the data-level ``feature_cooccurrence`` detector, which reads
only the training set, on the same poisoned training sets without training any model; so that the
clean side varies too, every training set (clean or poisoned) is a random ``subsample`` of its
rows drawn with the model's seed. Same held-out protocol and table.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Sequence

import torch

from ..backdoor.detectors import DetectionContext, create_detector
from ..backdoor.evaluate import backdoor_metrics
from ..data import load_dataset
from ..data.poison import poison_dataset
from ..metrics.ranking import roc_auc
from ..train import TrainConfig, train
from ._tables import fmt, mean_std, write_table

FB_DATA = ("spambase", "phishing")
FB_RATES = (0.01, 0.02, 0.05)
FB_DETECTORS = ("spectral_signature", "activation_clustering", "feature_noise_response", "feature_trigger_inversion",
                "feature_cooccurrence")
N_CLEAN = 200  # "a few clean samples" for trigger inversion: the first test inputs


def _scores(model, train_set, test, poisoned, seed: int, detectors: Sequence[str]) -> Dict[str, float]:
    x, y = test.tensors()
    ctx = DetectionContext(test.in_shape, test.num_classes, clean=(x[:N_CLEAN], y[:N_CLEAN]), train=train_set.tensors(),
                           poisoned_indices=poisoned, seed=seed, domain=test.domain)
    return {d: create_detector(d).detect(model, ctx).score for d in detectors}


def run_feature_backdoor(out_dir, data_root: Optional[str] = None, seeds: int = 8, epochs: int = 20,
                         rates: Sequence[float] = FB_RATES, datasets: Sequence[str] = FB_DATA,
                         detectors: Sequence[str] = FB_DETECTORS, progress: bool = False) -> dict:
    """Train the zoo (per dataset 2 × ``seeds`` × len(rates) models) and write
    ``feature_backdoor.md``/``.json`` and ``feature_backdoor_detect.md``/``.json`` into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    root = Path(data_root or "data/malware")
    records: List[dict] = []
    for data in datasets:
        tr = load_dataset(data, root=str(root / data), split="train")
        te = load_dataset(data, root=str(root / data), split="test")
        for rate in (0.0, *rates):
            for seed in range(seeds if rate else seeds * len(rates)):
                ps = poison_dataset(tr, "explanation_guided", rate=rate or rates[0], target=0, seed=seed)
                train_set = ps if rate else tr
                cfg = TrainConfig(data=data, model="mlp", method="erm", epochs=epochs, seed=seed, eval_every=epochs,
                                  device="cpu")
                model = train(cfg, train_set=train_set, test_set=te, progress=progress).model.eval()
                m = backdoor_metrics(model, te, ps)  # a clean model: the same trigger, no backdoor
                rec = {"data": data, "rate": rate, "seed": seed, "clean_acc": m.clean_accuracy,
                       "asr": m.attack_success_rate, "trigger": ps.poison_config["trigger"],
                       "scores": _scores(model, train_set, te, ps.poisoned_indices if rate else None, seed, detectors)}
                records.append(rec)
                if progress:
                    print(data, rate, seed, f"acc {m.clean_accuracy:.3f} asr {m.attack_success_rate:.3f}",
                          {k: round(v, 3) for k, v in rec["scores"].items()}, flush=True)
    rows = []
    for data in datasets:
        for rate in (0.0, *rates):
            rs = [r for r in records if r["data"] == data and r["rate"] == rate]
            rows.append([data, "clean" if rate == 0 else f"{rate:.0%}", str(len(rs)), fmt(mean_std([r["clean_acc"] for r in rs])),
                         fmt(mean_std([r["asr"] for r in rs]))])
    write_table(out, "feature_backdoor", ["data", "poison rate", "models", "clean accuracy (%)", "ASR (%)"], rows,
                {"runs": records}, note=f"mlp, {epochs} epochs; explanation_guided trigger (16 features at most), "
                                        "target class 0; the clean row is the trigger's success on clean models.")
    drows, summary = [], []
    for data in datasets:
        rs = [r for r in records if r["data"] == data]
        for d in detectors:
            s = _detector_summary(rs, d)
            summary.append({"data": data, "detector": d, **s})
            drows.append([data, d, f"{s['auc_test']:.2f}", f"{s['auc_all']:.2f}", f"{s['threshold']:.3g}",
                          f"{s['tpr']:.2f}", f"{s['fpr']:.2f}", f"{s['n_test_clean']}/{s['n_test_poisoned']}"])
    write_table(out, "feature_backdoor_detect", ["data", "detector", "AUC (odd seeds)", "AUC (all)", "threshold (even seeds)",
                                                 "TPR", "FPR", "clean/poisoned held out"], drows,
                {"summary": summary}, note="threshold: the largest clean score among the even seeds; TPR/FPR and "
                                           "the first AUC on the odd seeds only.")
    return {"runs": records, "summary": summary}


def run_feature_backdoor_data(out_dir, data_root: Optional[str] = None, seeds: int = 8,
                              rates: Sequence[float] = FB_RATES, datasets: Sequence[str] = FB_DATA,
                              detectors: Sequence[str] = ("feature_cooccurrence",), subsample: float = 0.9) -> dict:
    """Data-level detectors on clean and poisoned training sets (module docstring); writes
    ``feature_backdoor_data.md``/``.json`` into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    root = Path(data_root or "data/malware")
    records, drows, summary = [], [], []
    for data in datasets:
        tr = load_dataset(data, root=str(root / data), split="train")
        unused = torch.nn.Linear(tr.in_shape[0], tr.num_classes)  # these detectors never call the model
        for r, rate in enumerate((0.0, *rates)):
            for seed in range(seeds if rate else seeds * len(rates)):
                ps = poison_dataset(tr, "explanation_guided", rate=rate, target=0, seed=seed) if rate else tr
                x, y = ps.tensors()
                keep = torch.randperm(len(y), generator=torch.Generator().manual_seed(1000 * r + seed))
                keep = keep[: int(subsample * len(y))].sort().values
                poisoned = None
                if rate:  # the poisoned indices renumbered inside the subsample
                    where = torch.full((len(y),), -1, dtype=torch.long)
                    where[keep] = torch.arange(len(keep))
                    poisoned = where[ps.poisoned_indices][where[ps.poisoned_indices] >= 0]
                ctx = DetectionContext(tr.in_shape, tr.num_classes, train=(x[keep], y[keep]), poisoned_indices=poisoned,
                                       seed=seed, domain=tr.domain)
                results = {d: create_detector(d).detect(unused, ctx) for d in detectors}
                records.append({"data": data, "rate": rate, "seed": seed, "scores": {d: v.score for d, v in results.items()},
                                "details": {d: {k: v for k, v in res.details.items() if k != "per_class"}
                                            for d, res in results.items()}})
        rs = [rec for rec in records if rec["data"] == data]
        for d in detectors:
            s = _detector_summary(rs, d)
            found = [rec["details"][d].get("recall") for rec in rs if rec["rate"] > 0]
            s["mean_recall_poisoned"] = sum(found) / len(found) if found else None
            summary.append({"data": data, "detector": d, **s})
            drows.append([data, d, f"{s['auc_test']:.2f}", f"{s['auc_all']:.2f}", f"{s['threshold']:.3g}",
                          f"{s['tpr']:.2f}", f"{s['fpr']:.2f}", f"{s['n_test_clean']}/{s['n_test_poisoned']}",
                          f"{s['mean_recall_poisoned']:.2f}"])
            for rate in rates:  # per rate: AUC of that rate's odd seeds against the odd clean seeds
                sub = [rec for rec in rs if rec["rate"] in (0.0, rate)]
                s_r = _detector_summary(sub, d)
                drows.append([data, f"{d} ({rate:.0%} only)", f"{s_r['auc_test']:.2f}", f"{s_r['auc_all']:.2f}",
                              f"{s_r['threshold']:.3g}", f"{s_r['tpr']:.2f}", f"{s_r['fpr']:.2f}",
                              f"{s_r['n_test_clean']}/{s_r['n_test_poisoned']}", ""])
    write_table(out, "feature_backdoor_data", ["data", "detector", "AUC (odd seeds)", "AUC (all)", "threshold (even seeds)",
                                               "TPR", "FPR", "clean/poisoned held out", "recall of poisons (flagged cell)"],
                drows, {"runs": records, "summary": summary},
                note=f"training sets subsampled to {subsample:.0%} per seed; threshold: the largest clean score among "
                     "the even seeds; TPR/FPR and the first AUC on the odd seeds only.")
    return {"runs": records, "summary": summary}


def _detector_summary(rs: List[dict], detector: str) -> dict:
    def split(odd: bool):
        sel = [r for r in rs if (r["seed"] % 2 == 1) == odd]
        return (torch.tensor([r["scores"][detector] for r in sel], dtype=torch.float64),
                torch.tensor([r["rate"] > 0 for r in sel]))

    s_cal, p_cal = split(False)
    s_test, p_test = split(True)
    s_all, p_all = torch.cat([s_cal, s_test]), torch.cat([p_cal, p_test])
    thr = float(s_cal[~p_cal].max())
    flag = s_test > thr
    return {"auc_test": roc_auc(p_test.tolist(), s_test.tolist()), "auc_all": roc_auc(p_all.tolist(), s_all.tolist()), "threshold": thr,
            "tpr": float(flag[p_test].double().mean()), "fpr": float(flag[~p_test].double().mean()),
            "n_test_clean": int((~p_test).sum()), "n_test_poisoned": int(p_test.sum())}
