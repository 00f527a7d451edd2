"""Targeted universal perturbations: a backdoor target is reachable from every input with a small δ.

Neural Cleanse looks for a small *mask*; a low-amplitude trigger spread over the whole image (a
faint blend, a sinusoid) needs a large mask and hides from it. Its signature is instead a small
*additive* universal perturbation: for every class k at once we find one δ_k with ‖δ_k‖∞ ≤ ε that
sends all base images (not of class k) to k, by signed-gradient descent on CE(f(clip(x + δ_k)), k)
(PGD on a universal perturbation; cf. Moosavi-Dezfooli et al. 2017 for universal perturbations and
Zhang et al. 2021, "Cassandra", for their use against backdoors). Per class we record the attack
success rate (fraction of bases sent to k) and the mean CE. A target class stands out: the MAD
anomaly index of its success rate against the other classes' is the score (threshold 2, as Neural
Cleanse's); the suspected target is the class with the highest success rate (ties: lowest CE).

Base images: class prototypes synthesized from the weights (data-free, the default) or a few
clean samples.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from ._probes import class_prototypes
from .base import DetectionContext, Detector, mad_anomaly, register_detector


def universal_perturbations(model: nn.Module, base: torch.Tensor, num_classes: int, eps: float = 0.1,
                            steps: int = 30, step_size: Optional[float] = None,
                            base_labels: Optional[torch.Tensor] = None,
                            checkpoints: Sequence[int] = ()) -> Dict[str, Any]:
    """One L∞ universal perturbation per class, all classes batched (K·B images per step).

    ``eps``: L∞ radius in pixel units of [0, 1] images; ``step_size`` defaults to ε/4, independent of
    ``steps`` so that a snapshot at step s equals an s-step run (one run gives the steps curve). Returns ``asr`` (K, fraction of eligible bases predicted as k), ``ce`` (K, mean
    CE towards k), ``delta`` (K×C×H×W), and ``asr_at``/``ce_at`` snapshots at ``checkpoints`` steps.
    """
    K, (B, C, H, W) = num_classes, base.shape
    alpha = float(step_size) if step_size is not None else eps / 4
    delta = torch.zeros(K, C, H, W, requires_grad=True)
    target = torch.arange(K).repeat_interleave(B)
    weight = torch.ones(K, B) if base_labels is None else (base_labels.view(1, B) != torch.arange(K).view(K, 1)).float()
    weight = weight / weight.sum(1, keepdim=True).clamp_min(1)
    xb = base.unsqueeze(0)

    def evaluate(d: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            logits = model((xb + d.unsqueeze(1)).clamp(0, 1).reshape(K * B, C, H, W))
            ce = (F.cross_entropy(logits, target, reduction="none").view(K, B) * weight).sum(1)
            asr = ((logits.argmax(1) == target).view(K, B).float() * weight).sum(1)
        return asr, ce

    asr_at, ce_at = {}, {}
    for step in range(steps):
        x = (xb + delta.unsqueeze(1)).clamp(0, 1).reshape(K * B, C, H, W)
        ce = (F.cross_entropy(model(x), target, reduction="none").view(K, B) * weight).sum()
        (grad,) = torch.autograd.grad(ce, [delta])  # the model's parameters are never touched
        with torch.no_grad():
            delta -= alpha * grad.sign()
            delta.clamp_(-eps, eps)
        if step + 1 in checkpoints:
            asr_at[step + 1], ce_at[step + 1] = evaluate(delta.detach())
    asr, ce = evaluate(delta.detach())
    return {"asr": asr, "ce": ce, "delta": delta.detach(), "asr_at": asr_at, "ce_at": ce_at}


def uap_score(asr: torch.Tensor, ce: torch.Tensor) -> Tuple[float, int]:
    """(MAD anomaly of the best class's success rate, that class; ties broken by the lowest CE)."""
    order = torch.argsort(ce.double() - 1e6 * asr.double())  # highest ASR first, then lowest CE
    target = int(order[0])
    return float(mad_anomaly(asr.double() - 1e-3 * ce.double())[target]), target


@register_detector("universal_perturbation")
class UniversalPerturbation(Detector):
    """Targeted universal L∞ perturbations per class, MAD anomaly of the success rates (threshold 2)."""

    needs = "a few clean samples"
    threshold = 2.0
    eps_max = 1.0  # pixel units

    def __init__(self, data_free: bool = True, eps: float = 0.1, steps: int = 30, n_base: int = 20,
                 prototype_steps: int = 40) -> None:
        if not 0 < eps <= self.eps_max or steps < 1 or n_base < 1 or prototype_steps < 1:
            raise ValueError(f"expected eps in (0, {self.eps_max:g}], steps >= 1, n_base >= 1, prototype_steps >= 1, "
                             f"got {eps}, {steps}, {n_base}, {prototype_steps}")
        self.data_free, self.eps, self.steps = bool(data_free), float(eps), int(steps)
        self.n_base, self.prototype_steps = int(n_base), int(prototype_steps)

    def _bases(self, model, ctx: DetectionContext):
        """(images, labels): class prototypes (data-free) or a seeded draw of the clean samples."""
        g = torch.Generator().manual_seed(ctx.seed)
        if self.data_free:
            return class_prototypes(model, ctx.in_shape, ctx.num_classes, max(1, self.n_base // ctx.num_classes),
                                    steps=self.prototype_steps, generator=g)
        x, y = ctx.clean
        idx = torch.randperm(x.shape[0], generator=g)[: self.n_base]
        return x[idx], y[idx]

    def _detect(self, model, ctx: DetectionContext):
        base, labels = self._bases(model, ctx)
        out = universal_perturbations(model, base, ctx.num_classes, self.eps, self.steps, base_labels=labels)
        score, target = uap_score(out["asr"], out["ce"])
        return score, target, {"success_rate": out["asr"].tolist(), "ce": out["ce"].tolist(),
                               "mode": "data-free" if self.data_free else "clean samples"}
