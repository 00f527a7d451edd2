"""Warp-space trigger inversion: is one class reachable from every input by a small smooth warp?

A WaNet backdoor (Nguyen & Tran 2021) is a fixed smooth warp x' = grid_sample(x, id + s·U(P)/H):
P a k×k×2 control field, U a bicubic upsampling to H×W. It is not a patch, a blend or an additive
perturbation, so Neural Cleanse's masks, the patch search and L∞ universal perturbations do not
model it. Here the inversion is done in the trigger's own space: for every class c one control field
P_c (k×k×2, |P_c| ≤ ε in grid_sample's normalized coordinates, i.e. ε·(H−1)/2 pixels) is optimized
by signed-gradient descent on CE(f(warp(x, P_c)), c) over the base images not of class c (all
classes in one batch, as the universal perturbations). A warp target is the class that a small warp
reaches from most bases. One more field, untargeted, maximizes the share of bases whose label
changes (loss −log(1 − p_y)): an all-to-all warp changes every label without favouring a class.

Per class: success rate (fraction of eligible bases sent to c) and mean CE; the score is the MAD
anomaly of the success rates (floored at one base in 50, as the patch search's), target the best.

Measured on the digits reference zoo (docs/results.md, "Backdoor scan"): at ε 0.1–0.35 the
inversion does not separate WaNet models from clean ones (AUC 0.38–0.66): on 8×8 digits a small
adversarial warp reaches almost any class of any model, and the zoo's triggers (s 3–4, L∞ up to ≈
0.9) are far larger than ε. What does separate them is the *random-warp response*
(``warp_response``): random smooth fields at the trigger's scale, no optimization — a model that
learned "strongly warped → target" sends many of them to its target, a clean one scatters them.
The scan records that one; the inversion stays a registered detector for warps within ε.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .base import DetectionContext, register_detector
from .universal_perturbation import UniversalPerturbation

WARP_EPS = 0.35  # control-field L∞ bound (normalized units): 1.2 px on 8×8; the zoo's WaNet mean is 0.38–0.5
WARP_GRID = 4  # the paper's k
WARP_STRENGTH = 3.5  # random-warp response: WaNet's s (mean displacement s/H normalized units)


def _identity(h: int, w: int) -> torch.Tensor:
    gy, gx = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    return torch.stack((gx, gy), -1)  # H×W×2, grid_sample's (x, y) order


def warp(x: torch.Tensor, field: torch.Tensor) -> torch.Tensor:
    """grid_sample(x, id + U(field)) with field M×2×k×k and x M×C×H×W (zeros outside, as WaNet)."""
    h, w = x.shape[2], x.shape[3]
    up = F.interpolate(field, size=(h, w), mode="bicubic", align_corners=True).permute(0, 2, 3, 1)
    grid = (_identity(h, w).to(x) + up).clamp(-1, 1)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


def warp_inversions(model: nn.Module, base: torch.Tensor, num_classes: int, eps: float = WARP_EPS,
                    steps: int = 20, k: int = WARP_GRID, base_labels: Optional[torch.Tensor] = None,
                    checkpoints: Sequence[int] = ()) -> Dict[str, Any]:
    """One k×k warp field per class (targeted) and one untargeted, all batched ((K + 1)·B images per step).

    Step size ε/4 independent of ``steps`` (a snapshot at step s equals an s-step run). Returns ``asr``
    (K, fraction of eligible bases predicted c), ``ce`` (K, mean CE towards c), ``untargeted`` (fraction
    of bases whose prediction differs from their label), ``field`` ((K+1)×2×k×k), and snapshots
    ``asr_at`` / ``ce_at`` / ``untargeted_at`` at ``checkpoints`` steps.
    """
    K, (B, C, H, W) = num_classes, base.shape
    labels = model(base).argmax(1).detach() if base_labels is None else base_labels
    field = torch.zeros(K + 1, 2, k, k, requires_grad=True)
    target = torch.arange(K).repeat_interleave(B)
    weight = (labels.view(1, B) != torch.arange(K).view(K, 1)).float()
    weight = weight / weight.sum(1, keepdim=True).clamp_min(1)
    xb = base.unsqueeze(0).expand(K + 1, B, C, H, W)

    def forward(f: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        logits = model(warp(xb.reshape(-1, C, H, W), f.repeat_interleave(B, 0)))
        return logits[: K * B], logits[K * B:]

    def evaluate(f: torch.Tensor):
        with torch.no_grad():
            tl, ul = forward(f)
            ce = (F.cross_entropy(tl, target, reduction="none").view(K, B) * weight).sum(1)
            asr = ((tl.argmax(1) == target).view(K, B).float() * weight).sum(1)
            return asr, ce, (ul.argmax(1) != labels).float().mean()

    at: Dict[str, Dict[int, Any]] = {"asr_at": {}, "ce_at": {}, "untargeted_at": {}}
    for step in range(steps):
        tl, ul = forward(field)
        targeted = (F.cross_entropy(tl, target, reduction="none").view(K, B) * weight).sum()
        p_y = ul.softmax(1).gather(1, labels.view(-1, 1)).squeeze(1)
        untargeted = -torch.log((1 - p_y).clamp_min(1e-6)).mean()
        (grad,) = torch.autograd.grad(targeted + untargeted, [field])  # the model's parameters untouched
        with torch.no_grad():
            field -= eps / 4 * grad.sign()
            field.clamp_(-eps, eps)
        if step + 1 in checkpoints:
            for key, v in zip(at, evaluate(field.detach())):
                at[key][step + 1] = v
    asr, ce, unt = evaluate(field.detach())
    return {"asr": asr, "ce": ce, "untargeted": unt, "field": field.detach(), **at}


def random_fields(n: int, k: int, seed: int = 5) -> torch.Tensor:
    """``n`` WaNet-style control fields (uniform [−1, 1], divided by their mean |.|), n×2×k×k."""
    p = torch.rand(n, 2, k, k, generator=torch.Generator().manual_seed(seed)) * 2 - 1
    return p / p.abs().mean((1, 2, 3), keepdim=True)


@torch.no_grad()
def warp_response(model: nn.Module, base: torch.Tensor, labels: torch.Tensor, num_classes: int,
                  strength: float = WARP_STRENGTH, n_fields: int = 32, grids: Sequence[int] = (3, 4),
                  seed: int = 5) -> Dict[str, Any]:
    """Where do random smooth warps send the bases? ``n_fields`` random fields per control-grid size
    in ``grids``, each scaled to WaNet strength s (grid offset s·P/H), applied to every base.

    Returns per class k the mean over fields of the fraction of bases not of class k sent to k
    (``mean``) and its largest value over fields (``max``), and the mean fraction of bases whose
    class changes (``flip``). Cost: one forward pass over len(grids)·n_fields·N images.
    """
    n = base.shape[0]
    others = torch.stack([(labels != k).sum() for k in range(num_classes)]).double().clamp_min(1)
    hits, flips = [], []
    for k in grids:
        f = random_fields(n_fields, k, seed + k) * strength / base.shape[2]
        pred = model(warp(base.repeat(n_fields, 1, 1, 1), f.repeat_interleave(n, 0))).argmax(1).view(n_fields, n)
        moved = F.one_hot(pred, num_classes).double() * (pred != labels).unsqueeze(-1)
        hits.append(moved.sum(1) / others)
        flips.append((pred != labels).double().mean(1))
    h = torch.cat(hits)
    return {"mean": h.mean(0), "max": h.max(0).values, "flip": torch.cat(flips).mean()}


@register_detector("warp_inversion")
class WarpInversion(UniversalPerturbation):
    """Warp-space trigger inversion per class, MAD anomaly of the success rates (threshold 2)."""

    eps_max = 2.0  # normalized grid units (the whole image is 2 wide)

    def __init__(self, data_free: bool = True, eps: float = WARP_EPS, steps: int = 20, n_base: int = 20,
                 prototype_steps: int = 40) -> None:
        super().__init__(data_free, eps, steps, n_base, prototype_steps)

    def _detect(self, model, ctx: DetectionContext):
        base, labels = self._bases(model, ctx)
        out = warp_inversions(model, base, ctx.num_classes, self.eps, self.steps, base_labels=labels)
        asr = out["asr"].double()
        mad = max(float((asr - asr.median()).abs().median()), 0.02)  # one base in 50: most classes are never reached
        target = int(torch.argsort(out["ce"].double() - 1e6 * asr)[0])
        return float((asr[target] - asr.median()) / (1.4826 * mad)), target, {
            "success_rate": out["asr"].tolist(), "ce": out["ce"].tolist(), "untargeted": float(out["untargeted"]),
            "mode": "data-free" if self.data_free else "clean samples"}
