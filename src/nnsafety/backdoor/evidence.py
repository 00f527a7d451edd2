"""The raw evidence of one model for the backdoor scan, and the class-agnostic features made from it.

``collect_evidence`` runs the data-free probes once per model:

- noise response: the class profile (20 settings × K mean softmax) and the fraction of probes per
  class (``detectors.noise_response.class_profile``);
- inversion: base images (class prototypes synthesized from the weights, or the user's clean
  samples), then Neural Cleanse's smallest mask per class (L1) and a targeted universal L∞
  perturbation per class (success rate, CE) on the same bases;
- patch search: per class the largest fraction of other-class bases one stamped patch sends there,
  its 16 largest such rates, and the untargeted flip share (``detectors.patch_search``);
- warp response: where random WaNet-scale smooth warps send the bases (``detectors.warp_inversion``);
- weights: head row-norm and bias MAD anomalies per class, first-layer energy concentration.

``features`` turns evidence into named class-agnostic numbers given a reference (the mean/std of
clean models' noise profiles, and per class of their patch and UAP rates), and ``class_suspicion`` gives each signal's per-class vector for the
target vote. ``checkpoints`` record the inversion at several step counts in one run, so a zoo
evaluation gets the whole quality/steps curve at the price of the longest setting.
"""
from __future__ import annotations

import math
import time
from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from .detectors._probes import class_prototypes
from .detectors.neural_cleanse import reverse_engineer_triggers
from .detectors.noise_response import BLOCKS, class_profile
from .detectors.patch_search import patch_flip_rates
from .detectors.universal_perturbation import universal_perturbations
from .detectors.warp_inversion import warp_response

S0 = 0.02  # floor added to the reference σ of a profile entry (probability units), as ProfileMeta's
PATCH_MAD_FLOOR = 0.02  # flip rates: when most classes are never reached (MAD 0), one base in 50 is the unit
UAP_EPS = 0.2  # L∞ radius of the universal perturbations (pixel units): the faintest zoo blends move pixels by ≤ 0.2


def _weight_evidence(model: nn.Module, in_shape: Sequence[int]) -> Dict[str, Any]:
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    head = linears[-1]
    norms = head.weight.detach().double().norm(dim=1)
    bias = head.bias.detach().double() if head.bias is not None else torch.zeros_like(norms)
    first = next(m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d)))
    w = first.weight.detach().double()
    if isinstance(first, nn.Linear) and w.shape[1] == math.prod(in_shape):
        energy = (w ** 2).sum(0).view(tuple(in_shape)).sum(0).flatten()  # per input pixel
    else:
        energy = (w ** 2).sum((0, 1)).flatten()  # conv: per kernel position
    energy = energy / energy.sum().clamp_min(1e-12)
    return {"head_norm": norms.tolist(), "head_bias": bias.tolist(),
            "energy_top": float(energy.max() * energy.numel())}


def base_images(model: nn.Module, in_shape, num_classes: int, data: Optional[Tuple[torch.Tensor, torch.Tensor]],
                n_base: int, prototype_steps: int, generator: torch.Generator):
    """(images, labels): ``n_base`` clean samples (a seeded draw) when ``data`` is given, else prototypes."""
    if data is not None:
        x, y = data
        idx = torch.randperm(x.shape[0], generator=generator)[:n_base]
        return x[idx].float(), y[idx]
    return class_prototypes(model, in_shape, num_classes, max(1, n_base // num_classes), steps=prototype_steps,
                            generator=generator)


def collect_evidence(model: nn.Module, in_shape: Sequence[int], num_classes: int, *, n_probes: int = 25,
                     nc_steps: int = 60, uap_steps: int = 20, prototype_steps: int = 40, n_base: int = 20,
                     data: Optional[Tuple[torch.Tensor, torch.Tensor]] = None, seed: int = 0,
                     checkpoints: Sequence[int] = ()) -> Dict[str, Any]:
    """All raw evidence of ``model`` (eval mode, gradients w.r.t. probes only); JSON-ready.

    ``checkpoints``: extra inversion step counts recorded in ``nc_l1_at``/``uap_at`` (each ≤ the
    run's steps). ``seconds`` holds the time of each part (s, this process's wall clock).
    """
    shape = tuple(int(s) for s in in_shape)
    was_training = model.training
    model.eval()
    sec: Dict[str, float] = {}
    try:
        t = time.perf_counter()
        profile, fraction = class_profile(model, shape, num_classes, n_probes, seed)
        sec["noise"] = time.perf_counter() - t
        t = time.perf_counter()
        g = torch.Generator().manual_seed(seed)
        base, labels = base_images(model, shape, num_classes, data, n_base, prototype_steps, g)
        sec["bases"] = time.perf_counter() - t
        t = time.perf_counter()
        nc = reverse_engineer_triggers(model, base, num_classes, nc_steps, generator=g, base_labels=labels,
                                       checkpoints=[c for c in checkpoints if c < nc_steps])
        sec["nc"] = time.perf_counter() - t
        t = time.perf_counter()
        uap = universal_perturbations(model, base, num_classes, UAP_EPS, uap_steps, base_labels=labels,
                                      checkpoints=[c for c in checkpoints if c < uap_steps])
        sec["uap"] = time.perf_counter() - t
        t = time.perf_counter()
        patch = patch_flip_rates(model, base, labels, num_classes)
        sec["patch"] = time.perf_counter() - t
        t = time.perf_counter()
        warp = {k: v.tolist() for k, v in warp_response(model, base, labels, num_classes).items()}
        sec["warp"] = time.perf_counter() - t
        t = time.perf_counter()
        weights = _weight_evidence(model, shape)
        sec["weights"] = time.perf_counter() - t
    finally:
        model.train(was_training)
    nc_at = {int(k): v.tolist() for k, v in nc["l1_at"].items()}
    nc_at[int(nc_steps)] = nc["l1"].tolist()
    uap_at = {int(k): [uap["asr_at"][k].tolist(), uap["ce_at"][k].tolist()] for k in uap["asr_at"]}
    uap_at[int(uap_steps)] = [uap["asr"].tolist(), uap["ce"].tolist()]
    return {"num_classes": int(num_classes), "profile": profile.tolist(), "fraction": fraction.tolist(),
            "nc_l1_at": nc_at, "uap_at": uap_at, "nc_steps": int(nc_steps), "uap_steps": int(uap_steps),
            "patch": {k: v.tolist() for k, v in patch.items()}, "warp": warp,
            "weights": weights, "seconds": sec, "with_data": data is not None}


def patch_evidence(model: nn.Module, in_shape: Sequence[int], num_classes: int, *, n_base: int = 20,
                   prototype_steps: int = 40, data: Optional[Tuple[torch.Tensor, torch.Tensor]] = None,
                   seed: int = 0) -> Dict[str, Any]:
    """Only the patch search and the random-warp response of ``collect_evidence`` (same seeded bases),
    to complete evidence recorded before they existed; returns {"patch", "warp", "seconds": {...}}."""
    was_training = model.training
    model.eval()
    try:
        t = time.perf_counter()
        g = torch.Generator().manual_seed(seed)
        base, labels = base_images(model, tuple(in_shape), num_classes, data, n_base, prototype_steps, g)
        patch = patch_flip_rates(model, base, labels, num_classes)
        t_patch = time.perf_counter() - t
        t = time.perf_counter()
        warp = {k: v.tolist() for k, v in warp_response(model, base, labels, num_classes).items()}
    finally:
        model.train(was_training)
    return {"patch": {k: v.tolist() for k, v in patch.items()}, "warp": warp,
            "seconds": {"patch": t_patch, "warp": time.perf_counter() - t}}


def at_steps(evidence: Dict[str, Any], nc_steps: Optional[int] = None, uap_steps: Optional[int] = None):
    """(NC L1 per class, UAP success per class, UAP CE per class) at the given step counts (default:
    the run's own); keys may have become strings in a JSON round trip."""
    nc = {int(k): v for k, v in evidence["nc_l1_at"].items()}
    uap = {int(k): v for k, v in evidence["uap_at"].items()}
    n, u = nc_steps or evidence["nc_steps"], uap_steps or evidence["uap_steps"]
    if n not in nc or u not in uap:
        raise ValueError(f"expected evidence recorded at NC {n} / UAP {u} steps, have NC {sorted(nc)} / UAP {sorted(uap)}")
    return np.asarray(nc[n], dtype=np.float64), np.asarray(uap[u][0], dtype=np.float64), np.asarray(uap[u][1], dtype=np.float64)


def robust_z(v: np.ndarray, floor: float = 1e-9) -> np.ndarray:
    """(v − median)/(1.4826·MAD) per class (signed MAD anomaly); MAD floored at ``floor``."""
    med = np.median(v)
    mad = max(float(np.median(np.abs(v - med))), floor)
    return (v - med) / (1.4826 * mad)


def noise_z(evidence: Dict[str, Any], reference: Dict[str, Any]) -> np.ndarray:
    """Settings × K profile z-scored against the reference's clean models (ProfileMeta's rule)."""
    p = np.asarray(evidence["profile"], dtype=np.float64)
    return (p - np.asarray(reference["mu"])) / (np.asarray(reference["sigma"]) + S0)


FEATURES = (
    "noise_z_max", "noise_z_block_max", "noise_z_block_mean", "noise_fraction_max", "noise_entropy",
    "nc_anomaly", "nc_log_ratio", "nc_log_min", "nc_second_ratio",
    "uap_anomaly", "uap_asr_max", "uap_asr_gap", "uap_ce_gap", "uap_top_gap", "uap_ce_top_gap",
    "agree_count", "agree_strength",
    "patch_flip_max", "patch_anomaly", "patch_gap", "patch_spread", "patch_untargeted", "patch_dest_share",
    "warp_mean_max", "warp_mean_z", "warp_max_max", "warp_flip",
    "patch_cz_max", "uap_cz_max",
)
# Head-weight statistics are recorded but not scored: they depend on the recipe (weight decay,
# optimizer) — leave-one-recipe-out AUC 0.41 alone on the first 82 zoo models (0.61 on all 310), and
# there the combination without them scored higher (0.875 vs 0.842; docs/results.md, "Backdoor scan").
WEIGHT_FEATURES = ("w_head_norm_anomaly", "w_head_bias_anomaly", "w_energy_top")


# The scan's detector groups (``scan_eval.fit_combined``): one regression each, the score is the largest
# calibrated one. Agreement reads the noise profile's per-class z, so it sits with the noise group.
GROUPS = {
    "noise": [f for f in FEATURES if f.startswith(("noise", "agree"))],
    "inversion": [f for f in FEATURES if f.startswith(("nc_", "uap_"))],
    "patch": [f for f in FEATURES if f.startswith("patch")],
    "warp": [f for f in FEATURES if f.startswith("warp")],
}

NOISE_Z_FEATURES = ("noise_z_max", "noise_z_block_max", "noise_z_block_mean")
CLASS_Z_FEATURES = ("patch_cz_max", "uap_cz_max")
CZ_FLOOR = 0.05  # added to a class's σ over clean models (rate units): 1 base in 20


def class_z_features(patch: np.ndarray, uap: np.ndarray, reference: Dict[str, Any]) -> Dict[str, np.ndarray]:
    """Per-class rates (M × K) z-scored against the reference's clean models *per class*, largest z.

    Some classes are natural sinks of a data set (an 8×8 checkerboard reads as an 8: with real
    digits the patch search's top class is 8 for 72 of 200 clean zoo models), so a class reached
    often is only suspicious if it is reached more often than that class is on clean models. Without
    per-class statistics in ``reference`` (an uncalibrated shape), μ = 0 and σ = 1 − CZ_FLOOR.
    """
    out = {}
    for name, v in (("patch", patch), ("uap", uap)):
        mu = np.asarray(reference.get(f"{name}_mu", np.zeros(v.shape[1])))
        sd = np.asarray(reference.get(f"{name}_sigma", np.full(v.shape[1], 1 - CZ_FLOOR)))
        out[f"{name}_cz_max"] = ((v - mu) / (sd + CZ_FLOOR)).max(1)
    return out


def noise_z_features(z: np.ndarray) -> Dict[str, np.ndarray]:
    """The reference-dependent features of M z-scored profiles (M × settings × K), vectorized."""
    block = np.stack([z[:, b].mean(1) for b in BLOCKS], 1)  # M × probe bases × K
    return {"noise_z_max": z.max((1, 2)), "noise_z_block_max": block.max((1, 2)),
            "noise_z_block_mean": np.sort(block.max(2), 1)[:, -3:].mean(1)}


def static_features(evidence: Dict[str, Any], nc_steps: Optional[int] = None,
                    uap_steps: Optional[int] = None) -> Dict[str, float]:
    """The features that need no reference (all of ``FEATURES`` but ``NOISE_Z_FEATURES`` and
    ``CLASS_Z_FEATURES``)."""
    frac = np.asarray(evidence["fraction"], dtype=np.float64)
    nz = frac[frac > 0]
    l1, asr, ce = at_steps(evidence, nc_steps, uap_steps)
    kmin = int(np.argmin(l1))
    nc_anom = float(-robust_z(l1)[kmin]) if l1[kmin] <= np.median(l1) else 0.0
    w = evidence["weights"]
    order = np.argsort(ce - 1e6 * asr)
    return {
        "noise_fraction_max": float(frac.max()), "noise_entropy": float(-(nz * np.log(nz)).sum()),
        "nc_anomaly": min(nc_anom, 20.0), "nc_log_ratio": float(np.log(np.median(l1) / max(l1[kmin], 1e-6))),
        "nc_log_min": float(np.log(max(l1[kmin], 1e-6))),
        # the target against the runner-up class, not the median: one class stands out, not a tail
        "nc_second_ratio": float(np.log(np.sort(l1)[1] / max(l1[kmin], 1e-6))),
        "uap_anomaly": float(np.clip(robust_z(asr - 1e-3 * ce)[order[0]], -20, 20)), "uap_asr_max": float(asr.max()),
        "uap_asr_gap": float(asr.max() - np.median(asr)), "uap_ce_gap": float(np.median(ce) - ce.min()),
        "uap_top_gap": float(np.sort(asr)[-1] - np.sort(asr)[-2]), "uap_ce_top_gap": float(np.sort(ce)[1] - ce.min()),
        **_patch_features(evidence), **_warp_features(evidence),
        "w_head_norm_anomaly": float(min(robust_z(np.asarray(w["head_norm"])).max(), 20.0)),
        "w_head_bias_anomaly": float(min(robust_z(np.asarray(w["head_bias"])).max(), 20.0)),
        "w_energy_top": float(w["energy_top"]),
    }


def _patch_features(evidence: Dict[str, Any]) -> Dict[str, float]:
    """The patch search's largest per-class flip rate, its MAD anomaly among the classes, and its lead
    over the runner-up class (a trigger sends bases to one class; a natural stroke to several)."""
    p = evidence["patch"]
    raw = np.asarray(p["flip"], dtype=np.float64)
    flip = np.sort(raw)
    top = np.asarray(p["top"], dtype=np.float64)[int(np.argmax(raw))]
    return {"patch_flip_max": float(flip[-1]), "patch_anomaly": float(np.clip(robust_z(flip, PATCH_MAD_FLOOR)[-1], -20, 20)),
            "patch_gap": float(flip[-1] - flip[-2]),
            # a trigger is one patch and its near copies; a class many patches reach is a natural sink
            "patch_spread": float(top[0] - top[min(7, len(top) - 1)]),
            "patch_untargeted": float(p["untargeted"]), "patch_dest_share": float(p["dest_share"])}


def _warp_features(evidence: Dict[str, Any]) -> Dict[str, float]:
    """The random-warp response: the class that WaNet-scale warps send most bases to (mean over
    fields), its MAD anomaly, the largest single-field rate, and how many bases change class at all."""
    w = evidence["warp"]
    mean = np.asarray(w["mean"], dtype=np.float64)
    return {"warp_mean_max": float(mean.max()), "warp_mean_z": float(np.clip(robust_z(mean, PATCH_MAD_FLOOR).max(), -20, 20)),
            "warp_max_max": float(np.max(w["max"])), "warp_flip": float(w["flip"])}


def agreement_features(suspicion: Dict[str, np.ndarray]) -> Dict[str, float]:
    """Do the detectors point at one class? The most detectors sharing a first class, and the largest
    per-class sum of their robust z (each capped at 10, so one detector cannot carry it alone)."""
    tops = np.bincount([int(np.argmax(v)) for v in suspicion.values()])
    return {"agree_count": float(tops.max()),
            "agree_strength": float(np.sum([np.minimum(v, 10.0) for v in suspicion.values()], 0).max())}


def features(evidence: Dict[str, Any], reference: Dict[str, Any], nc_steps: Optional[int] = None,
             uap_steps: Optional[int] = None) -> Dict[str, float]:
    """Named class-agnostic features (``FEATURES``) of one model's evidence; higher = more suspicious
    for the anomaly-type ones. ``reference``: {"mu", "sigma"} of clean models' noise profiles, and
    optionally {"patch_mu", "patch_sigma", "uap_mu", "uap_sigma"} per class (``class_z_features``)."""
    out = static_features(evidence, nc_steps, uap_steps)
    out.update({k: float(v[0]) for k, v in noise_z_features(noise_z(evidence, reference)[None]).items()})
    values = class_values(evidence, nc_steps, uap_steps)
    patch, uap = values["patch_search"], values["universal_perturbation"]
    out.update({k: float(v[0]) for k, v in class_z_features(patch[None], uap[None], reference).items()})
    out.update(agreement_features(class_suspicion(evidence, reference, nc_steps, uap_steps)))
    return {k: out[k] for k in FEATURES + WEIGHT_FEATURES}


def static_suspicion(evidence: Dict[str, Any], nc_steps: Optional[int] = None,
                     uap_steps: Optional[int] = None) -> Dict[str, np.ndarray]:
    """Per-class robust z of the inversion signals (higher = that class looks more like a target)."""
    l1, asr, ce = at_steps(evidence, nc_steps, uap_steps)
    return {"neural_cleanse": robust_z(-np.log(np.maximum(l1, 1e-6))),
            "universal_perturbation": robust_z(asr - 1e-3 * ce),
            "patch_search": robust_z(np.asarray(evidence["patch"]["flip"], dtype=np.float64), PATCH_MAD_FLOOR)}


def class_suspicion(evidence: Dict[str, Any], reference: Dict[str, Any], nc_steps: Optional[int] = None,
                    uap_steps: Optional[int] = None) -> Dict[str, np.ndarray]:
    """Per-class robust z of each signal: the noise profile's largest z per class, and the inversions'."""
    return {"noise_response": robust_z(noise_z(evidence, reference).max(0)),
            **static_suspicion(evidence, nc_steps, uap_steps)}


# Per-class calibration for the target vote: each detector's per-class value, the reference key of its
# clean models' per-class μ/σ, and the floor added to σ (rates: 1 base in 20; NC: log-L1 units).
CLASS_VALUES = {"neural_cleanse": ("nc", 0.1), "universal_perturbation": ("uap", CZ_FLOOR),
                "patch_search": ("patch", CZ_FLOOR), "warp_response": ("warp", CZ_FLOOR)}
CAL_CAP = 10.0  # one detector's calibrated z counts at most this much in the target vote


def class_values(evidence: Dict[str, Any], nc_steps: Optional[int] = None,
                 uap_steps: Optional[int] = None) -> Dict[str, np.ndarray]:
    """Per class, what each inversion-type detector measures (higher = the class is reached more
    easily): −log NC mask L1, UAP success rate, patch flip rate, random-warp mean hit rate."""
    l1, asr, _ = at_steps(evidence, nc_steps, uap_steps)
    return {"neural_cleanse": -np.log(np.maximum(l1, 1e-6)), "universal_perturbation": asr,
            "patch_search": np.asarray(evidence["patch"]["flip"], dtype=np.float64),
            "warp_response": np.asarray(evidence["warp"]["mean"], dtype=np.float64)}


def calibrated_suspicion(evidence: Dict[str, Any], reference: Dict[str, Any], nc_steps: Optional[int] = None,
                         uap_steps: Optional[int] = None) -> Dict[str, np.ndarray]:
    """Per class, each detector's value z-scored against *the same class* on the reference's clean
    models (``reference[<key>_mu]``, ``<key>_sigma``; the noise profile's z against its clean μ, σ,
    largest over settings). Detectors whose per-class statistics the reference lacks are left out."""
    out = {"noise_response": noise_z(evidence, reference).max(0)}
    for name, v in class_values(evidence, nc_steps, uap_steps).items():
        short, floor = CLASS_VALUES[name]
        if f"{short}_mu" in reference:
            out[name] = (v - np.asarray(reference[f"{short}_mu"])) / (np.asarray(reference[f"{short}_sigma"]) + floor)
    return out


def calibrated_target(calibrated: Dict[str, np.ndarray]) -> Tuple[int, Dict[str, int]]:
    """The suspected target by the detectors' per-class calibrated votes: the class with the largest sum
    over detectors of its calibrated z, each capped at ``CAL_CAP`` (one detector cannot carry it
    alone; a class every clean model reaches easily, like the digits' 8, gains nothing from that).
    Chosen over the strongest-detector rule on the held-out splits (docs/results.md, "Backdoor scan")."""
    tops = {name: int(np.argmax(v)) for name, v in calibrated.items()}
    return int(np.argmax(np.sum([np.minimum(v, CAL_CAP) for v in calibrated.values()], 0))), tops


def suspected_target(suspicion: Dict[str, np.ndarray]) -> Tuple[int, Dict[str, int]]:
    """The suspected target: the first class of the detector with the strongest evidence (the largest
    per-class robust z of any detector), and each detector's first class. When detectors disagree,
    the one that stands out most is the one that found something; a vote lets two weak detectors
    that agree by chance outvote it (held-out comparison in docs/results.md, "Backdoor scan")."""
    tops = {name: int(np.argmax(v)) for name, v in suspicion.items()}
    strongest = max(suspicion, key=lambda name: float(np.max(suspicion[name])))
    return tops[strongest], tops


def vote_target(suspicion: Dict[str, np.ndarray]) -> Tuple[int, Dict[str, int]]:
    """The suspected target by agreement: the class most detectors put first; a tie (no class named
    by more detectors than any other) goes to the largest summed per-class z over all detectors —
    never to one detector's pick over the agreement of the others."""
    tops = {name: int(np.argmax(v)) for name, v in suspicion.items()}
    votes = np.bincount(list(tops.values()), minlength=len(next(iter(suspicion.values()))))
    total = np.sum(list(suspicion.values()), axis=0)
    best = np.flatnonzero(votes == votes.max())
    return int(best[np.argmax(total[best])]), tops
