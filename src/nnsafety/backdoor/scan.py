"""``scan``: is this model backdoored? One calibrated score with a stated false-positive rate.

The scan collects evidence (``evidence.collect_evidence``: noise response; Neural Cleanse's smallest
masks, targeted universal perturbations, a brute-force patch search and a random-warp response on
base images, which are class prototypes synthesized from the weights, or the user's clean samples
when given), turns it into class-agnostic features (the per-class patch and UAP rates z-scored
against the reference's clean models per class: some classes are natural sinks of a data set), and
scores each detector group (noise, inversion, patch, warp:
``evidence.GROUPS``) with a logistic regression fitted on a *reference zoo* of clean and backdoored
models spanning training recipes, trigger families and adaptive attackers (``recipes.py``; fitted by
``benchmarks/bench_scan.py --fit``). Each group's score is calibrated to its clean models' empirical
CDF and the scan's score is the largest (``scan_eval.fit_combined``): an attacker who silences one
signal is judged by the others. The reference is plain JSON (no pickle) in ``backdoor/reference/``;
each budget (and each budget with clean samples, ``<budget>+data``) has its own regressions,
threshold, and the false-positive rate that threshold has on clean models of training recipes the
regressions did not see (leave-one-recipe-out, nested), which the verdict states.

The suspected target class is the class with the largest sum of the detectors' per-class z against
the same class on the reference's clean models (``evidence.calibrated_target``); without such a
reference, the first class of the detector with the strongest evidence (``evidence.suspected_target``).
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from .detectors.base import Detector, register_detector
from .detectors.meta import REFERENCE_DIR
from .evidence import (
    calibrated_suspicion, calibrated_target, class_suspicion, collect_evidence, features, suspected_target,
)

DEFAULT_REFERENCE = "digits_recipes"
BUDGETS = ("quick", "standard", "thorough")


@dataclass
class ScanResult:
    """The scan's answer for one model (JSON-ready through ``to_dict``).

    ``score``: calibrated probability-like score in [0, 1]; ``verdict``: "backdoored", "clean" or
    "uncalibrated" (no reference for this input shape / class count); ``fpr``: fraction of clean
    held-out-recipe models of the reference scoring ≥ ``threshold``; ``miss_rate``: fraction of
    held-out backdoored models scoring below it; ``evidence``: per detector its anomaly score, first
    class, per-class robust z and (calibrated reference) per-class z against the reference's clean models; ``message``: the verdict in words, with how often it is wrong.
    ``transfer_score``: for an input shape the reference does not cover, the reference's parts that
    read no noise-profile feature applied as they are (no verdict: their FPR there is unmeasured).
    """

    score: Optional[float]
    verdict: str
    threshold: Optional[float]
    fpr: Optional[float]
    miss_rate: Optional[float]
    reference: Optional[str]
    budget: str
    suspected_target: Optional[int]
    evidence: Dict[str, Dict[str, Any]]
    features: Dict[str, float]
    seconds: float
    message: str
    with_data: bool = False
    settings: Dict[str, Any] = field(default_factory=dict)
    transfer_score: Optional[float] = None

    @property
    def backdoored(self) -> bool:
        return self.verdict == "backdoored"

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        return self.message


def _check_reference(d: Dict[str, Any], where: str) -> Dict[str, Any]:
    if not isinstance(d, dict) or d.get("kind") != "ScanReference":
        raise ValueError(f"expected a scan reference JSON (kind 'ScanReference') at {where}, got "
                         f"kind {d.get('kind') if isinstance(d, dict) else type(d).__name__!r}")
    for key in ("in_shape", "num_classes", "noise_reference", "budgets"):
        if key not in d:
            raise ValueError(f"expected key {key!r} in the scan reference at {where}, found none")
    return d


def list_references() -> List[str]:
    """Packaged scan references (``backdoor/reference/<name>.json`` of kind ScanReference)."""
    out = []
    for p in sorted(REFERENCE_DIR.glob("*.json")):
        try:
            if json.loads(p.read_text()).get("kind") == "ScanReference":
                out.append(p.stem)
        except (OSError, ValueError):
            continue
    return out


def load_reference(name_or_path: str | Path = DEFAULT_REFERENCE) -> Dict[str, Any]:
    """A packaged scan reference by name (``list_references()``) or a JSON file from ``fit_reference``."""
    path = REFERENCE_DIR / f"{name_or_path}.json" if str(name_or_path) in list_references() else Path(name_or_path)
    try:
        d = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise ValueError(f"expected a scan reference name ({', '.join(list_references())}) or JSON file, "
                         f"got {name_or_path!r}: {e}") from None
    d = _check_reference(d, str(path))
    d.setdefault("name", Path(path).stem)
    return d


def logistic_score(model: Dict[str, Any], feats: Dict[str, float]) -> float:
    """σ(w·(x − mean)/scale + b) with the named features of a fitted regression (JSON dict); for a
    ``max_of_calibrated`` model, the largest of its parts' clean-CDF-calibrated scores
    (``scan_eval.predict_combined``)."""
    x = np.asarray([feats[n] for n in model["features"]], dtype=np.float64)
    if model.get("kind") == "max_of_calibrated":
        from .scan_eval import predict_combined

        return float(predict_combined(model, x[None])[0])
    zx = (x - np.asarray(model["mean"])) / np.asarray(model["scale"])
    return float(1.0 / (1.0 + np.exp(-(zx @ np.asarray(model["coef"]) + float(model["intercept"])))))


def _budget_entry(ref: Dict[str, Any], budget: str, with_data: bool) -> Tuple[str, Dict[str, Any]]:
    key = f"{budget}+data" if with_data and f"{budget}+data" in ref["budgets"] else budget
    if key not in ref["budgets"]:
        raise ValueError(f"expected budget one of {', '.join(b for b in ref['budgets'] if '+' not in b)}, got {budget!r}")
    return key, ref["budgets"][key]


def _message(verdict: str, score: float, entry: Dict[str, Any], ref_name: str, target: Optional[int]) -> str:
    held = entry["heldout"]
    thr = entry["threshold"]
    if verdict == "backdoored":
        return (f"backdoored: score {score:.4f} ≥ threshold {thr:.4f} (reference {ref_name}); suspected target class "
                f"{target}. Such a verdict is wrong on {100 * held['fpr']:.1f} % of clean models of training recipes "
                f"the reference never saw ({held['n_clean']} held-out clean models).")
    return (f"clean: score {score:.4f} < threshold {thr:.4f} (reference {ref_name}). Such a verdict misses "
            f"{100 * (1 - held['tpr']):.1f} % of backdoored models of held-out recipes ({held['n_backdoored']} "
            f"held-out backdoored models); {100 * held['fpr']:.1f} % of clean ones are flagged.")


def scan(model: nn.Module, in_shape: Sequence[int], num_classes: int,
         data: Optional[Tuple[torch.Tensor, torch.Tensor]] = None, *, budget: str = "standard",
         reference: str | Path | Dict[str, Any] = DEFAULT_REFERENCE, seed: int = 0) -> ScanResult:
    """Scan ``model`` (x in [0, 1] of ``in_shape`` → ``num_classes`` logits) for a backdoor.

    ``data``: a few clean (x, y) samples, used as the inversion's base images when the reference has
    a regression for them (``<budget>+data``); otherwise the scan is data-free. ``budget``: quick,
    standard or thorough (inversion steps chosen from the reference's measured quality/time curve).
    A model whose input shape or class count the reference does not cover gets verdict
    "uncalibrated": the per-detector evidence is reported, no score.
    """
    shape = tuple(int(s) for s in in_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"expected in_shape C×H×W, got {tuple(in_shape)}")
    if not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"expected num_classes an integer >= 2, got {num_classes!r}")
    if budget not in BUDGETS:
        raise ValueError(f"expected budget one of {', '.join(BUDGETS)}, got {budget!r}")
    if data is not None and (len(data) != 2 or data[0].shape[1:] != shape):
        raise ValueError(f"expected data (x, y) with x of shape N×{'×'.join(map(str, shape))}, got "
                         f"{tuple(data[0].shape) if len(data) == 2 else type(data).__name__}")
    ref = reference if isinstance(reference, dict) else load_reference(reference)
    calibrated = list(ref["in_shape"]) == list(shape) and int(ref["num_classes"]) == num_classes
    key, entry = _budget_entry(ref, budget, data is not None and calibrated)
    settings = dict(entry["settings"])
    t0 = time.perf_counter()
    ev = collect_evidence(model, shape, num_classes, data=data if key.endswith("+data") else None, seed=seed,
                          **settings)
    # per-class rates of the reference's clean models at this budget (natural sink classes), if fitted
    noise_ref = {**ref["noise_reference"], **entry.get("class_reference", {})} if calibrated else _self_reference(ev)
    feats = features(ev, noise_ref)
    susp = class_suspicion(ev, noise_ref)
    target, tops = suspected_target(susp)
    evidence = {name: {"anomaly": float(v.max()), "first_class": tops[name], "per_class_z": v.round(3).tolist()}
                for name, v in susp.items()}
    if calibrated and "nc_mu" in noise_ref:  # the per-class calibrated vote (a reference from before it: the old rule)
        cal = calibrated_suspicion(ev, noise_ref)
        target, _ = calibrated_target(cal)
        for name in set(cal) & set(evidence):
            evidence[name]["per_class_calibrated_z"] = cal[name].round(3).tolist()
    name = ref.get("name", "custom")
    if calibrated:
        score = logistic_score(entry["model"], feats)
        verdict = "backdoored" if score >= entry["threshold"] else "clean"
        msg = _message(verdict, score, entry, name, target)
        return ScanResult(score, verdict, entry["threshold"], entry["heldout"]["fpr"], 1 - entry["heldout"]["tpr"],
                          name, key, target if verdict == "backdoored" else None, evidence, feats,
                          time.perf_counter() - t0, msg, key.endswith("+data"), settings)
    transfer = _transfer_score(entry["model"], feats)
    msg = (f"uncalibrated: no reference for {'×'.join(map(str, shape))} inputs with {num_classes} classes "
           f"(reference {name} covers {'×'.join(map(str, ref['in_shape']))}, {ref['num_classes']} classes); "
           "per-detector evidence only, no verdict")
    return ScanResult(None, "uncalibrated", None, None, None, None, key, target, evidence, feats,
                      time.perf_counter() - t0, msg, False, settings, transfer)


def _transfer_score(model: Dict[str, Any], feats: Dict[str, float]) -> Optional[float]:
    """The combined score over the parts of a ``max_of_calibrated`` model that read no noise feature
    (the noise profile's reference is per input shape; the inversion and patch statistics are ratios
    within the model). None for a single regression."""
    parts = [m for m in model.get("parts", []) if not any(f.startswith("noise") for f in m["features"])]
    if not parts:
        return None
    return logistic_score({**model, "parts": parts}, feats)


def _self_reference(ev: Dict[str, Any]) -> Dict[str, Any]:
    """Without a reference, z-score the noise profile against its own class mean/std per setting."""
    p = np.asarray(ev["profile"])
    return {"mu": np.repeat(p.mean(1, keepdims=True), p.shape[1], 1), "sigma": np.repeat(p.std(1, keepdims=True), p.shape[1], 1)}


@register_detector("scan")
class ScanDetector(Detector):
    """The calibrated scan as a detector (score = scan score, threshold = the reference's)."""

    needs = "weights only"

    def __init__(self, budget: str = "standard", reference: str = DEFAULT_REFERENCE, use_clean: bool = False) -> None:
        if budget not in BUDGETS:
            raise ValueError(f"expected budget one of {', '.join(BUDGETS)}, got {budget!r}")
        self.budget, self.reference, self.use_clean = budget, reference, bool(use_clean)
        self.threshold = 0.5

    def _detect(self, model, ctx):
        r = scan(model, ctx.in_shape, ctx.num_classes, ctx.clean if self.use_clean else None, budget=self.budget,
                 reference=self.reference, seed=ctx.seed)
        if r.threshold is not None:
            self.threshold = r.threshold
        return (r.score if r.score is not None else 0.0), r.suspected_target, r.to_dict()
