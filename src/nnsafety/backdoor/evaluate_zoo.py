"""Score backdoor detectors on a model zoo (AUC, TPR@5%FPR, target accuracy, time) and compare two runs.

Meta-classifier variants are only ever scored on models they were not fitted on: the zoo is split
by training seed parity (2 folds: fit on even seeds, score odd ones, and back), and, for the
cross-family table, fitted on clean models of one fold plus backdoors of the other families and
scored on the other fold's clean models plus the held-out family's backdoors.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from .. import runs
from ..metrics.ranking import roc_auc
from .detect import run_context
from .detectors import MetaClassifier, create_detector
from .detectors.meta import ProfileMeta
from .detectors.noise_response import new_profile_meta
from .zoo import FAMILIES, read_manifest, zoo_labels

# name in tables -> (registered detector, settings, meta-classifier?)
VARIANTS: Dict[str, tuple] = {
    "noise_response": ("noise_response", {}, False),
    "noise_response_meta": ("noise_response", {}, True),
    "weights": ("weights", {}, False),
    "weights_meta": ("weights", {}, True),
    "neural_cleanse": ("neural_cleanse", {"data_free": True}, False),
    "neural_cleanse_clean": ("neural_cleanse", {"data_free": False}, False),
    "strip": ("strip", {}, False),
    "spectral_signature": ("spectral_signature", {}, False),
    "activation_clustering": ("activation_clustering", {}, False),
}


def tpr_at_fpr(labels: Sequence[int], scores: Sequence[float], fpr: float = 0.05) -> float:
    """Fraction of backdoored models scored above the (1 − fpr) quantile of the clean scores."""
    y, s = np.asarray(labels), np.asarray(scores, dtype=np.float64)
    if y.sum() == 0 or y.sum() == len(y):
        return float("nan")
    cut = np.quantile(s[y == 0], 1 - fpr, method="higher")
    return float((s[y == 1] > cut).mean())


@dataclass
class DetectorTable:
    """One row per detector variant, plus per-model scores and the cross-family rows."""

    rows: List[Dict[str, Any]]
    cross_family: List[Dict[str, Any]] = field(default_factory=list)
    per_model: Dict[str, List[Dict[str, Any]]] = field(default_factory=dict)

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    def to_markdown(self) -> str:
        head = ("| detector | needs | AUC | AUC mlp | AUC cnn | TPR@5%FPR | verdict TPR / FPR | target acc | s/model |\n"
                "|---|---|---|---|---|---|---|---|---|\n")
        body = "".join(
            f"| {r['detector']} | {r['needs']} | {r['auc']:.3f} | {r['auc_mlp']:.3f} | {r['auc_cnn']:.3f} | "
            f"{r['tpr_at_5fpr']:.2f} | {r['verdict_tpr']:.2f} / {r['verdict_fpr']:.2f} | "
            f"{r['target_accuracy']:.2f} | {r['seconds_per_model']:.3f} |\n" for r in self.rows)
        out = head + body
        if self.cross_family:
            out += "\n| meta detector | held-out family | AUC | TPR@5%FPR |\n|---|---|---|---|\n"
            out += "".join(f"| {r['detector']} | {r['held_out']} | {r['auc']:.3f} | {r['tpr_at_5fpr']:.2f} |\n"
                           for r in self.cross_family)
        return out


def _score_models(zoo: Path, records, name: str, progress: bool) -> List[Dict[str, Any]]:
    det_name, settings, _ = VARIANTS[name]
    detector = create_detector(det_name, **settings)
    out = []
    for i, r in enumerate(records):
        run = runs.load_run(zoo / r["path"])
        ctx = run_context(run, with_train=detector.needs == "the training set")
        t0 = time.perf_counter()
        res = detector.detect(run.model, ctx)
        row = {"id": r["id"], "label": r["label"], "arch": r["arch"], "trigger": r.get("trigger"), "target": r.get("target"),
               "seed": r["seed"], "score": res.score, "verdict": res.backdoored, "target_class": res.target_class,
               "seconds": time.perf_counter() - t0, "needs": res.needs, "threshold": res.threshold}
        if "features" in res.details:  # kept for the meta variant sharing this run
            row["features"] = res.details["features"]
        for k in ("precision", "recall"):
            if k in res.details:
                row[k] = res.details[k]
        out.append(row)
        if progress and (i + 1) % 20 == 0:
            print(f"[detect {name}] {i + 1}/{len(records)}", flush=True)
    return out


def _new_meta(det_name: str, num_classes: int):
    """noise_response: the JSON-persistable reference-normalised ``ProfileMeta``; others: a forest."""
    return new_profile_meta(num_classes) if det_name == "noise_response" else MetaClassifier()


def _meta_scores(rows: List[Dict[str, Any]], fit_mask: np.ndarray, score_mask: np.ndarray, det_name: str = "weights",
                 num_classes: int = 10):
    """(probabilities, suspected targets or None) of the models in ``score_mask``, fitted on ``fit_mask``."""
    X = np.asarray([r["features"] for r in rows])
    y = np.asarray([r["label"] for r in rows])
    meta = _new_meta(det_name, num_classes).fit(X[fit_mask], y[fit_mask])
    targets = meta.suspected_target(X[score_mask]) if hasattr(meta, "suspected_target") else None
    return meta.predict_proba(X[score_mask]), targets


def fit_reference_meta(zoo_dir: str | Path, progress: bool = False, seed: int = 0) -> ProfileMeta:
    """``nnsafety detect ZOO --fit-meta OUT.json``: the noise-response meta-classifier fitted on every
    usable model of a reference zoo (clean = 0, implanted backdoor = 1)."""
    zoo = Path(zoo_dir)
    records = zoo_labels(read_manifest(zoo))
    if not records:
        raise ValueError(f"expected a zoo with manifest records at {zoo}, found none")
    det = create_detector("noise_response")
    feats, labels, num_classes = [], [], None
    for i, r in enumerate(records):
        run = runs.load_run(zoo / r["path"])
        ctx = run_context(run, seed=seed)
        num_classes = ctx.num_classes
        feats.append(det.features(run.model.eval(), ctx).tolist())
        labels.append(r["label"])
        if progress and (i + 1) % 20 == 0:
            print(f"[fit-meta] {i + 1}/{len(records)}", flush=True)
    return new_profile_meta(num_classes).fit(feats, labels)


def _row(name: str, rows: List[Dict[str, Any]]) -> Dict[str, Any]:
    y = np.asarray([r["label"] for r in rows])
    s = np.asarray([r["score"] for r in rows])
    v = np.asarray([r["verdict"] for r in rows])
    arch = np.asarray([r["arch"] for r in rows])
    hit = [r["target_class"] == r["target"] for r in rows if r["label"] == 1 and r["verdict"]]
    pr = [r for r in rows if r["label"] == 1 and "recall" in r]
    return {
        "detector": name, "needs": rows[0]["needs"], "n_models": len(rows), "n_backdoored": int(y.sum()),
        "auc": roc_auc(y, s), "auc_mlp": roc_auc(y[arch == "mlp"], s[arch == "mlp"]),
        "auc_cnn": roc_auc(y[arch == "cnn"], s[arch == "cnn"]), "tpr_at_5fpr": tpr_at_fpr(y, s),
        "verdict_tpr": float(v[y == 1].mean()), "verdict_fpr": float(v[y == 0].mean()),
        "target_accuracy": float(np.mean(hit)) if hit else float("nan"),
        "seconds_per_model": float(np.mean([r["seconds"] for r in rows])),
        "threshold": rows[0]["threshold"],
        "precision": float(np.mean([r["precision"] for r in pr])) if pr else None,
        "recall": float(np.mean([r["recall"] for r in pr])) if pr else None,
    }


def evaluate_detectors(zoo_dir: str | Path, methods: Sequence[str] | str = "all", progress: bool = True,
                       cross_family: bool = True) -> DetectorTable:
    """Run each detector variant on every usable zoo model (clean + implanted backdoors).

    ``methods``: names of ``VARIANTS`` or "all". Returns the table; ``per_model`` keeps every score.
    """
    zoo = Path(zoo_dir)
    records = zoo_labels(read_manifest(zoo))
    if not records:
        raise ValueError(f"expected a zoo with manifest records at {zoo}, found none")
    names = list(VARIANTS) if methods == "all" or list(methods) == ["all"] else list(methods)
    for n in names:
        if n not in VARIANTS:
            raise ValueError(f"unknown detector variant {n!r}; expected one of: {', '.join(VARIANTS)}")
    table = DetectorTable(rows=[])
    num_classes = int(runs.load_run(zoo / records[0]["path"]).config["data"]["num_classes"])
    cache: Dict[str, List[Dict[str, Any]]] = {}
    for name in names:
        det_name, _, meta = VARIANTS[name]
        key = f"{det_name}:{VARIANTS[name][1]}"
        if key not in cache:
            cache[key] = _score_models(zoo, records, name, progress)
        rows = [dict(r) for r in cache[key]]
        if meta:
            seed_odd = np.asarray([r["seed"] % 2 for r in rows]) == 1
            probs = np.empty(len(rows))
            targets = np.asarray([-1 if r["target_class"] is None else r["target_class"] for r in rows])
            for fold in (False, True):
                p, t = _meta_scores(rows, seed_odd != fold, seed_odd == fold, det_name, num_classes)
                probs[seed_odd == fold] = p
                if t is not None:
                    targets[seed_odd == fold] = t
            for r, p, t in zip(rows, probs, targets):
                r.update(score=float(p), verdict=bool(p >= 0.5), threshold=0.5, target_class=int(t))
            if cross_family:
                table.cross_family += _cross_family(name, rows, seed_odd, det_name, num_classes)
        for r in rows:
            r.pop("features", None)
        table.per_model[name] = rows
        table.rows.append(_row(name, rows))
    return table


def _cross_family(name: str, rows, seed_odd: np.ndarray, det_name: str, num_classes: int) -> List[Dict[str, Any]]:
    trig = np.asarray([r["trigger"] or "" for r in rows])
    y = np.asarray([r["label"] for r in rows])
    out = []
    for fam in FAMILIES:
        ys, ss = [], []
        for fold in (False, True):
            fit = ((y == 0) & (seed_odd != fold)) | ((y == 1) & (trig != fam))
            score = ((y == 0) & (seed_odd == fold)) | ((y == 1) & (trig == fam) & (seed_odd == fold))
            if y[fit].min() == y[fit].max() or not score.any():
                continue
            ss += _meta_scores(rows, fit, score, det_name, num_classes)[0].tolist()
            ys += y[score].tolist()
        if ys and 0 < sum(ys) < len(ys):
            out.append({"detector": name, "held_out": fam, "auc": roc_auc(ys, ss), "tpr_at_5fpr": tpr_at_fpr(ys, ss)})
    return out


@dataclass
class CompareResult:
    """Both models' verdicts per detector, which one looks backdoored, and the figure path."""

    runs: List[str]
    verdicts: Dict[str, List[Dict[str, Any]]]
    more_suspicious: str
    figure: Optional[str]

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)


def compare(run_a: str | Path, run_b: str | Path, out: Optional[str | Path] = None,
            methods: Sequence[str] = ("noise_response", "weights", "neural_cleanse"),
            settings: Optional[Dict[str, Dict[str, Any]]] = None) -> CompareResult:
    """"Which model is backdoored?": run weight-only detectors on both runs and draw the evidence.

    ``settings``: keyword arguments per detector name, e.g. ``{"noise_response": {"meta": load_meta("digits")}}``.

    The figure (``out``, a .png path) has one row per model: first-layer weight grid, noise-response
    curves, titration curve (class fractions of data-free salt-and-pepper probes vs noise level).
    ``more_suspicious`` is the run with more backdoored verdicts (ties: larger summed score/threshold).
    """
    from ..metrics.noise_response import noise_response
    from ..metrics.spectral import first_layer_grid

    loaded = [runs.load_run(p) for p in (run_a, run_b)]
    verdicts: Dict[str, List[Dict[str, Any]]] = {}
    votes = []
    for run in loaded:
        ctx = run_context(run)
        res = [create_detector(m, **(settings or {}).get(m, {})).detect(run.model, ctx) for m in methods]
        verdicts[str(run.path)] = [{**{k: v for k, v in r.to_dict().items() if k != "details"}, "summary": r.summary()}
                                   for r in res]
        votes.append((sum(r.backdoored for r in res), sum(r.score / max(r.threshold, 1e-9) for r in res)))
    suspicious = str(loaded[0].path if votes[0] >= votes[1] else loaded[1].path)
    fig_path = None
    if out is not None:
        from .._plot import pyplot

        plt = pyplot()
        fig, axes = plt.subplots(2, 3, figsize=(14, 8))
        for row, run in enumerate(loaded):
            shape = run.config["data"]["in_shape"]
            first_layer_grid(run.model, shape).plot(axes[row][0], title=f"{run.path.name}: first layer")
            nr = noise_response(run.model, family="salt_and_pepper", data_free_mode="uniform", in_shape=shape,
                                num_classes=run.config["data"]["num_classes"], n_probes=500)
            nr.plot([axes[row][1], axes[row][2]])
            axes[row][1].set_title(f"{run.path.name}: " + ", ".join(
                f"{d['detector']} {'BD' if d['backdoored'] else 'ok'}" for d in verdicts[str(run.path)]), fontsize=8)
        fig.tight_layout()
        fig_path = str(out)
        Path(fig_path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(fig_path, dpi=100)
        plt.close(fig)
    return CompareResult([str(p.path) for p in loaded], verdicts, suspicious, fig_path)
