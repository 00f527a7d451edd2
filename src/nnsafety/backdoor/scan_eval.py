"""Fit and judge the scan on a reference zoo, only ever on models the regression did not see.

1. ``collect_zoo_evidence``: run ``evidence.collect_evidence`` on every usable zoo model (clean, or
   backdoored with ASR ≥ 0.9), data-free and with the 100 clean test samples, once at the longest
   inversion with snapshots at shorter step counts; cached as JSON lines (resumable).
2. Splits (``heldout_scores``): *leave-one-recipe-out* (recipe = optimizer/method: fit on every other
   recipe, score this one's clean and backdoored models); *leave-one-trigger-family-out* (fit on the
   other families' backdoors and clean models of some recipes, score the family's backdoors and the
   clean models of the other recipes); *attacker split* (fit on standard attackers only, score
   noise-aware and small-norm attackers against clean models of unseen recipes). The noise profile's
   clean reference (μ, σ) comes from the fitted models only.
3. Thresholds are nested: inside each outer fold an inner leave-one-recipe-out gives out-of-fold
   clean scores whose (1 − ``target_fpr``) quantile is the threshold, so the FPR measured on the outer
   held-out clean models is that of the whole procedure on recipes it never saw.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Dict, List, Sequence, Tuple

import numpy as np

from ..metrics.ranking import roc_auc
from .evidence import (
    CLASS_VALUES, FEATURES, S0, agreement_features, calibrated_target, class_values, class_z_features,
    features, robust_z, noise_z_features, static_features, static_suspicion,
)

C_REG = 0.3  # inverse L2 strength of the logistic regression on standardized features


# ----------------------------------------------------------------------------------------- evidence
def collect_zoo_evidence(zoo_dir: str | Path, cache: str | Path, nc_steps: int = 100, uap_steps: int = 40,
                         checkpoints: Sequence[int] = (10, 20, 30, 50, 75), with_data: bool = True,
                         progress: bool = True, records: Sequence[Dict[str, Any]] | None = None
                         ) -> List[Dict[str, Any]]:
    """Evidence of every usable zoo model (or of ``records``, manifest records with a "label"), appended to the JSON-lines ``cache``: data-free
    (``evidence``) and, with ``with_data``, from the zoo's clean test samples (``evidence_data``).
    Resumable: a cached row is completed with what it lacks (a key, or the patch search and warp
    response of evidence recorded before they existed: then only those run, on the same seeded
    bases); the appended row wins on reading."""
    from .. import runs
    from .detect import run_context
    from .evidence import collect_evidence, patch_evidence
    from .zoo import read_manifest, zoo_labels

    zoo, cache = Path(zoo_dir), Path(cache)
    keys = ("evidence", "evidence_data") if with_data else ("evidence",)
    cached = {r["id"]: r for r in read_cache(cache)}
    todo = [r for r in (zoo_labels(read_manifest(zoo)) if records is None else records)
            if not all("warp" in cached.get(r["id"], {}).get(k, {}) for k in keys)]
    for i, rec in enumerate(todo):
        run = runs.load_run(zoo / rec["path"])
        ctx = run_context(run)
        kw = dict(nc_steps=nc_steps, uap_steps=uap_steps, checkpoints=checkpoints)
        row = {k: rec.get(k) for k in ("id", "label", "arch", "method", "recipe", "attacker", "family", "mode",
                                       "target", "trigger", "rate", "asr", "c_acc", "implanted")}
        row.update({k: v for k, v in cached.get(rec["id"], {}).items() if k in keys})
        for key, data in (("evidence", None), ("evidence_data", ctx.clean))[:len(keys)]:
            if key not in row:
                row[key] = collect_evidence(run.model, ctx.in_shape, ctx.num_classes, data=data, **kw)
            elif "warp" not in row[key]:  # recorded before the warp inversion: redo only it and the patch search
                extra = patch_evidence(run.model, ctx.in_shape, ctx.num_classes, data=data)
                row[key].update(patch=extra["patch"], warp=extra["warp"])
                row[key]["seconds"].update(extra["seconds"])
        with open(cache, "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
        if progress:
            s = sum(sum(row[k]["seconds"].values()) for k in keys)
            print(f"[evidence] {i + 1}/{len(todo)} {rec['id']} {rec['arch']} label={rec['label']} {s:.2f}s", flush=True)
    return read_cache(cache)


def read_cache(cache: str | Path) -> List[Dict[str, Any]]:
    """The cached evidence rows, by id (the last row wins); a torn last line is skipped."""
    rows: Dict[str, Dict[str, Any]] = {}
    if Path(cache).is_file():
        for line in Path(cache).read_text(encoding="utf-8").splitlines():
            try:
                r = json.loads(line)
            except json.JSONDecodeError:
                continue  # an interrupted collection
            rows[r["id"]] = r
    return [rows[k] for k in sorted(rows)]


# ------------------------------------------------------------------------------------ the regression
def noise_reference(rows: Sequence[Dict[str, Any]], key: str = "evidence",
                    steps: Tuple[int, int] | None = None) -> Dict[str, Any]:
    """μ, σ over the clean models of ``rows`` of the noise profile (settings × K); with ``steps``
    also of the per-class patch and UAP rates (``class_reference``)."""
    clean = [r for r in rows if r["label"] == 0]
    p = np.asarray([r[key]["profile"] for r in clean], dtype=np.float64)
    out = {"mu": p.mean(0).tolist(), "sigma": p.std(0).tolist()}
    if steps is not None:
        out.update(class_reference([r[key] for r in clean], steps))
    return out


def class_reference(clean_evidence: Sequence[Dict[str, Any]], steps: Tuple[int, int]) -> Dict[str, Any]:
    """Per-class μ, σ over clean models' evidence of each detector's per-class value
    (``evidence.class_values``: ``nc_``, ``uap_``, ``patch_``, ``warp_`` + ``mu``/``sigma``)."""
    vals = [class_values(e, *steps) for e in clean_evidence]
    out = {}
    for name, (short, _) in CLASS_VALUES.items():
        v = np.asarray([d[name] for d in vals])
        out.update({f"{short}_mu": v.mean(0).tolist(), f"{short}_sigma": v.std(0).tolist()})
    return out


def feature_matrix(rows, ref, steps: Tuple[int, int], key: str = "evidence", names: Sequence[str] = FEATURES):
    return np.asarray([[features(r[key], ref, *steps)[n] for n in names] for r in rows], dtype=np.float64)


def fit_logistic(X: np.ndarray, y: np.ndarray, names: Sequence[str], C: float = C_REG) -> Dict[str, Any]:
    """Standardize, fit an L2 logistic regression (scikit-learn), return it as a JSON-ready dict."""
    from sklearn.linear_model import LogisticRegression

    mean, scale = X.mean(0), X.std(0) + 1e-9
    lr = LogisticRegression(C=C, max_iter=5000, class_weight="balanced").fit((X - mean) / scale, y)
    return {"features": list(names), "mean": mean.tolist(), "scale": scale.tolist(), "coef": lr.coef_[0].tolist(),
            "intercept": float(lr.intercept_[0]), "C": C}


def predict(model: Dict[str, Any], X: np.ndarray) -> np.ndarray:
    z = (X - np.asarray(model["mean"])) / np.asarray(model["scale"])
    return 1.0 / (1.0 + np.exp(-(z @ np.asarray(model["coef"]) + model["intercept"])))


def fit_combined(X: np.ndarray, y: np.ndarray, names: Sequence[str], groups: Dict[str, Sequence[str]],
                 C: float = C_REG) -> Dict[str, Any]:
    """One logistic regression per detector group, each calibrated to its clean models' empirical
    CDF; the score is the largest calibrated part (an OR of the detectors: an attacker who silences
    one signal, e.g. the noise response by outlier exposure, is still judged by the others)."""
    parts = []
    for g, cols in groups.items():
        idx = [list(names).index(c) for c in cols]
        m = fit_logistic(X[:, idx], y, cols, C)
        m["group"], m["clean_scores"] = g, np.sort(predict(m, X[y == 0][:, idx])).tolist()
        parts.append(m)
    return {"kind": "max_of_calibrated", "features": list(names), "parts": parts}


def predict_combined(model: Dict[str, Any], X: np.ndarray) -> np.ndarray:
    """max over parts of F_clean(part score), F_clean the part's clean-score CDF (ties broken upward
    by 1e-3 × the raw score, so two models above every clean one still rank)."""
    names = model["features"]
    out = []
    for m in model["parts"]:
        s = predict(m, X[:, [names.index(c) for c in m["features"]]])
        cdf = np.searchsorted(np.asarray(m["clean_scores"]), s, side="right") / len(m["clean_scores"])
        out.append(cdf + 1e-3 * s)
    return np.max(out, 0) / (1 + 1e-3)


def fit_model(X, y, names, groups=None):
    return fit_logistic(X, y, names) if groups is None else fit_combined(X, y, names, groups)


def predict_model(model, X):
    return predict_combined(model, X) if model.get("kind") == "max_of_calibrated" else predict(model, X)


class Scorer:
    """Fits (noise reference + regression) on some rows and scores others, at fixed inversion steps.

    The reference-free features and per-class inversion evidence are computed once; only the noise
    profile's z-scores depend on the fitted rows, and are recomputed vectorized per fit.
    """

    def __init__(self, rows, steps: Tuple[int, int], key: str = "evidence", names: Sequence[str] = FEATURES,
                 groups: Dict[str, Sequence[str]] | None = None) -> None:
        self.rows, self.steps, self.key, self.names, self.groups = list(rows), steps, key, list(names), groups
        self.y = np.asarray([r["label"] for r in self.rows])
        self.profiles = np.asarray([r[key]["profile"] for r in self.rows], dtype=np.float64)
        static = [static_features(r[key], *steps) for r in self.rows]
        self.static = {k: np.asarray([f[k] for f in static]) for k in static[0]}
        self.suspicion = [static_suspicion(r[key], *steps) for r in self.rows]
        vals = [class_values(r[key], *steps) for r in self.rows]
        self.values = {name: np.asarray([v[name] for v in vals]) for name in CLASS_VALUES}
        self.patch, self.uap = self.values["patch_search"], self.values["universal_perturbation"]

    def _z(self, fit: np.ndarray) -> np.ndarray:
        clean = self.profiles[fit & (self.y == 0)]
        return (self.profiles - clean.mean(0)) / (clean.std(0) + S0)

    def _suspicion(self, z: np.ndarray, i: int) -> Dict[str, np.ndarray]:
        return {"noise_response": robust_z(z[i].max(0)), **self.suspicion[i]}

    def matrix(self, fit: np.ndarray) -> np.ndarray:
        z = self._z(fit)
        agree = [agreement_features(self._suspicion(z, i)) for i in range(len(self.rows))]
        clean = fit & (self.y == 0)
        cref = {f"{n}_{s}": f(v[clean], 0) for n, v in (("patch", self.patch), ("uap", self.uap))
                for s, f in (("mu", np.mean), ("sigma", np.std))}
        cols = {**self.static, **noise_z_features(z), **{k: np.asarray([a[k] for a in agree]) for k in agree[0]},
                **class_z_features(self.patch, self.uap, cref)}
        return np.stack([cols[n] for n in self.names], 1)

    def fit_score(self, fit: np.ndarray, score: np.ndarray) -> np.ndarray:
        X = self.matrix(fit)
        return predict_model(fit_model(X[fit], self.y[fit], self.names, self.groups), X[score])

    def targets(self, fit: np.ndarray, score: np.ndarray) -> List[int]:
        """``evidence.calibrated_target`` with the per-class references of the fitted rows' clean models."""
        z = self._z(fit).max(1)
        clean = fit & (self.y == 0)
        cal = {"noise_response": z}
        for name, (_, floor) in CLASS_VALUES.items():
            v = self.values[name]
            cal[name] = (v - v[clean].mean(0)) / (v[clean].std(0) + floor)
        return [calibrated_target({k: v[i] for k, v in cal.items()})[0] for i in np.flatnonzero(score)]


# ------------------------------------------------------------------------------------------ metrics
def bootstrap_auc(y, s, n: int = 1000, seed: int = 0) -> Tuple[float, float]:
    """95 % percentile interval of the AUC over models resampled with replacement within each class."""
    y, s = np.asarray(y), np.asarray(s, dtype=np.float64)
    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    if not len(pos) or not len(neg):
        return float("nan"), float("nan")
    aucs = []
    for _ in range(n):
        p, q = rng.choice(pos, len(pos)), rng.choice(neg, len(neg))
        aucs.append(roc_auc(np.r_[np.ones(len(p)), np.zeros(len(q))], np.r_[s[p], s[q]]))
    return float(np.percentile(aucs, 2.5)), float(np.percentile(aucs, 97.5))


def tpr_at_fpr(y, s, fpr: float = 0.05) -> float:
    """Fraction of backdoored models above the (1 − fpr) quantile of the clean scores."""
    y, s = np.asarray(y), np.asarray(s, dtype=np.float64)
    cut = np.quantile(s[y == 0], 1 - fpr, method="higher")
    return float((s[y == 1] > cut).mean())


def summarize(y, s, verdict=None, targets=None, true_targets=None, seconds=None) -> Dict[str, Any]:
    y, s = np.asarray(y), np.asarray(s)
    lo, hi = bootstrap_auc(y, s)
    out = {"n_clean": int((y == 0).sum()), "n_backdoored": int((y == 1).sum()), "auc": roc_auc(y, s),
           "auc_ci": [lo, hi], "tpr_at_5fpr": tpr_at_fpr(y, s)}
    if verdict is not None:
        v = np.asarray(verdict, dtype=bool)
        out.update(fpr=float(v[y == 0].mean()), tpr=float(v[y == 1].mean()))
    if targets is not None:
        hit = [t == tt for t, tt, yy in zip(targets, true_targets, y) if yy == 1 and tt is not None]
        out["target_accuracy"] = float(np.mean(hit)) if hit else float("nan")
        out["n_target"] = len(hit)
    if seconds is not None:
        out["seconds_per_model"] = float(np.mean(seconds))
    return out


# ------------------------------------------------------------------------------------------- splits
def _groups(rows, key: str) -> np.ndarray:
    return np.asarray([str(r.get(key)) for r in rows])


def recipe_folds(rows) -> List[Tuple[np.ndarray, np.ndarray]]:
    """(fit, score) masks of leave-one-recipe-out."""
    g = _groups(rows, "recipe")
    return [(g != v, g == v) for v in sorted(set(g))]


def family_folds(rows) -> List[Tuple[np.ndarray, np.ndarray]]:
    """Leave-one-trigger-family-out; the clean models are split by recipe into as many folds, so the
    clean models scored with family f come from recipes the fit did not see either."""
    y = np.asarray([r["label"] for r in rows])
    fam = _groups(rows, "family")
    fams = sorted(set(fam[y == 1]))
    recipes = sorted(set(_groups(rows, "recipe")))
    clean_fold = np.asarray([recipes.index(r) % len(fams) for r in _groups(rows, "recipe")])
    return [(((y == 0) & (clean_fold != j)) | ((y == 1) & (fam != f)),
             ((y == 0) & (clean_fold == j)) | ((y == 1) & (fam == f))) for j, f in enumerate(fams)]


def attacker_folds(rows) -> List[Tuple[np.ndarray, np.ndarray]]:
    """Fit on standard attackers and half the recipes' clean models; score adaptive attackers (split
    by id parity) and the other half's clean models; and the other way round."""
    y = np.asarray([r["label"] for r in rows])
    att = _groups(rows, "attacker")
    recipes = sorted(set(_groups(rows, "recipe")))
    half = np.asarray([recipes.index(r) % 2 for r in _groups(rows, "recipe")])
    parity = np.asarray([int(r["id"][1:]) // 2 % 2 for r in rows])
    adaptive = (y == 1) & (att != "standard")
    return [(((y == 0) & (half != j)) | ((y == 1) & (att == "standard")),
             ((y == 0) & (half == j)) | (adaptive & (parity == j))) for j in (0, 1)]


SPLITS: Dict[str, Callable] = {"leave-one-recipe-out": recipe_folds, "leave-one-family-out": family_folds,
                               "attacker": attacker_folds}


def nested_threshold(scorer: Scorer, fit: np.ndarray, target_fpr: float) -> float:
    """The (1 − target_fpr) quantile of inner leave-one-recipe-out clean scores within ``fit``."""
    idx = np.flatnonzero(fit)
    sub = [scorer.rows[i] for i in idx]
    clean_scores = []
    for f_in, s_in in recipe_folds(sub):
        f_mask, s_mask = np.zeros(len(fit), bool), np.zeros(len(fit), bool)
        f_mask[idx[f_in]], s_mask[idx[s_in & (scorer.y[idx] == 0)]] = True, True
        if s_mask.any() and len(set(scorer.y[f_mask])) == 2:
            clean_scores += scorer.fit_score(f_mask, s_mask).tolist()
    return float(np.quantile(clean_scores, 1 - target_fpr, method="higher"))


def heldout_scores(scorer: Scorer, split: str, target_fpr: float = 0.05, nested: bool = True) -> Dict[str, Any]:
    """Out-of-fold scores, verdicts (nested thresholds) and targets of every scored model of ``split``."""
    n = len(scorer.rows)
    score, verdict, target = np.full(n, np.nan), np.zeros(n, bool), np.full(n, -1)
    for fit, sc in SPLITS[split](scorer.rows):
        if not sc.any() or len(set(scorer.y[fit])) < 2:
            continue
        s = scorer.fit_score(fit, sc)
        score[sc] = s
        if nested:
            verdict[sc] = s >= nested_threshold(scorer, fit, target_fpr)
        target[sc] = scorer.targets(fit, sc)
    return {"score": score, "verdict": verdict, "target": target, "scored": ~np.isnan(score)}
