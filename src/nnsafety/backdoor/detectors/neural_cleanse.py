"""Neural Cleanse (Wang et al. 2019): reverse-engineer a minimal trigger per class, flag an outlier.

For every class k at once (one batched optimisation, K·B images per step): a mask m_k = σ(a_k)
(1×H×W) and a pattern p_k = σ(b_k) (C×H×W) turn base images x into (1 − m_k)·x + m_k·p_k; we
minimise CE(f(·), k) + λ_k·|m_k|₁ with Adam. λ_k follows the paper's schedule per class (×1.5 up
after ``patience`` steps with ASR ≥ 0.99, ÷1.5 down after ``patience`` steps below it), all classes
in one tensor. A backdoor target needs a much smaller mask than any other class: the anomaly index
of the smallest L1 norm, |L1_min − median| / (1.4826·MAD), flags the model at threshold 2.

Two modes: ``data_free=False`` uses a few clean samples (the published method); ``data_free=True``
uses noise probes (a constant grey image plus Gaussian noise, σ = ``probe_sigma``) as base images,
so only the weights are needed.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from ._probes import class_prototypes
from .base import DetectionContext, Detector, mad_anomaly, register_detector


def reverse_engineer_triggers(
    model: nn.Module, base: torch.Tensor, num_classes: int, steps: int = 150, lr: float = 0.1,
    init_cost: float = 1e-2, patience: int = 5, asr_goal: float = 0.99, generator: Optional[torch.Generator] = None,
    base_labels: Optional[torch.Tensor] = None, checkpoints: Sequence[int] = (),
) -> Dict[str, Any]:
    """Batched NC optimisation over all classes; returns masks (K×1×H×W), patterns, L1 norms, ASR.

    ``base``: B×C×H×W images in [0, 1]; ``init_cost``: the initial λ (per mask pixel sum);
    the best (smallest-L1) mask reaching ``asr_goal`` is kept per class, else the last one.
    ``base_labels`` (optional): the class of each base image; images of class k are left out of
    class k's loss and success rate (moving an image to its own class proves nothing).
    ``checkpoints``: step counts at which to snapshot the L1 norms (``l1_at[step]``), equal to what a
    run of that many steps returns (λ's schedule does not depend on the total), so one run gives the
    quality/steps curve.
    """
    K, (B, C, H, W) = num_classes, base.shape
    g = generator or torch.Generator().manual_seed(0)
    a = (torch.rand(K, 1, H, W, generator=g) * 2 - 4).requires_grad_(True)  # masks start small (σ(−3..−1))
    b = (torch.rand(K, C, H, W, generator=g) * 2 - 1).requires_grad_(True)
    opt = torch.optim.Adam([a, b], lr=lr, betas=(0.5, 0.9))
    target = torch.arange(K).repeat_interleave(B)
    cost = torch.full((K,), float(init_cost))
    up = torch.zeros(K, dtype=torch.long)
    down = torch.zeros(K, dtype=torch.long)
    best_l1 = torch.full((K,), float("inf"))
    best_mask = torch.zeros(K, 1, H, W)
    best_pattern = torch.zeros(K, C, H, W)
    xb = base.unsqueeze(0)
    weight = torch.ones(K, B) if base_labels is None else (base_labels.view(1, B) != torch.arange(K).view(K, 1)).float()
    weight = weight / weight.sum(1, keepdim=True).clamp_min(1)
    l1_at: Dict[int, torch.Tensor] = {}
    for step in range(steps):
        m, p = torch.sigmoid(a), torch.sigmoid(b)
        x = ((1 - m.unsqueeze(1)) * xb + (m * p).unsqueeze(1)).reshape(K * B, C, H, W)
        logits = model(x)
        ce = (F.cross_entropy(logits, target, reduction="none").view(K, B) * weight).sum(1)
        l1 = m.flatten(1).sum(1)
        loss = (ce + cost * l1).sum()
        # gradients w.r.t. the masks and patterns only: the model's parameters are never touched
        a.grad, b.grad = torch.autograd.grad(loss, [a, b])
        opt.step()
        with torch.no_grad():
            asr = ((logits.argmax(1) == target).view(K, B).float() * weight).sum(1)
            ok = asr >= asr_goal
            better = ok & (l1 < best_l1)
            best_l1 = torch.where(better, l1, best_l1)
            best_mask[better], best_pattern[better] = m[better].detach(), p[better].detach()
            up = torch.where(ok, up + 1, torch.zeros_like(up))
            down = torch.where(ok, torch.zeros_like(down), down + 1)
            cost = torch.where(up >= patience, cost * 1.5, cost)
            cost = torch.where(down >= patience, cost / 1.5, cost)
            up = torch.where(up >= patience, torch.zeros_like(up), up)
            down = torch.where(down >= patience, torch.zeros_like(down), down)
            if step + 1 in checkpoints:
                now = torch.sigmoid(a).flatten(1).sum(1)
                l1_at[step + 1] = torch.where(torch.isinf(best_l1), now, best_l1).clone()
    with torch.no_grad():
        m, p = torch.sigmoid(a), torch.sigmoid(b)
        missing = torch.isinf(best_l1)
        best_mask[missing], best_pattern[missing] = m[missing], p[missing]
        best_l1 = torch.where(missing, m.flatten(1).sum(1), best_l1)
    return {"mask": best_mask, "pattern": best_pattern, "l1": best_l1, "reached": ~missing, "l1_at": l1_at}


@register_detector("neural_cleanse")
class NeuralCleanse(Detector):
    """Neural Cleanse with the MAD anomaly index (threshold 2); ``data_free`` inverts on noise probes."""

    needs = "a few clean samples"
    threshold = 2.0

    def __init__(self, data_free: bool = True, steps: int = 150, lr: float = 0.1, init_cost: float = 1e-2,
                 n_base: int = 20, probe_sigma: float = 0.3, patience: int = 5) -> None:
        if steps < 1 or n_base < 1 or lr <= 0 or init_cost < 0:
            raise ValueError(f"expected steps >= 1, n_base >= 1, lr > 0, init_cost >= 0, got "
                             f"{steps}, {n_base}, {lr}, {init_cost}")
        self.data_free, self.steps, self.lr, self.init_cost = bool(data_free), int(steps), float(lr), float(init_cost)
        self.n_base, self.probe_sigma, self.patience = int(n_base), float(probe_sigma), int(patience)

    def base_images(self, model, ctx: DetectionContext, g: torch.Generator):
        if not self.data_free:
            x, y = ctx.clean
            idx = torch.randperm(x.shape[0], generator=g)[: self.n_base]
            return x[idx], y[idx]
        per_class = max(1, self.n_base // ctx.num_classes)
        return class_prototypes(model, ctx.in_shape, ctx.num_classes, per_class, sigma=self.probe_sigma, generator=g)

    def _detect(self, model, ctx) -> Tuple[float, Optional[int], Dict[str, Any]]:
        g = torch.Generator().manual_seed(ctx.seed)
        base, labels = self.base_images(model, ctx, g)
        out = reverse_engineer_triggers(model, base, ctx.num_classes, self.steps, self.lr,
                                        self.init_cost, self.patience, generator=g, base_labels=labels)
        l1 = out["l1"]
        anomaly = mad_anomaly(l1)
        target = int(l1.argmin())
        # only a class whose mask is *smaller* than the median counts (the paper's one-sided rule)
        score = float(anomaly[target]) if float(l1[target]) <= float(l1.quantile(0.5)) else 0.0
        return score, target, {"l1_norms": l1.tolist(), "anomaly_index": anomaly.tolist(),
                               "reached_asr": out["reached"].tolist(), "mode": "data-free" if self.data_free else "clean samples"}
