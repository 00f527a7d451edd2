"""Weight-only detector: spectral features of every layer plus first-layer and head statistics.

Features (class-agnostic, so they transfer across architectures with the same layer roles):
for the first, last and all layers, α, log Frobenius norm, log spectral norm, stable rank and
number of MP spikes (``nnsafety.metrics.spectral``); the first layer's per-input-pixel weight
energy, sorted (a BadNets patch concentrates first-layer weight on a few pixels); the head's
per-class weight-row norms and biases as MAD anomaly indices, sorted.
Unsupervised score: when the first layer is a Linear reading the pixels (MLPs), the largest MAD
anomaly of its per-pixel weight energy Σ_j W1[j, p]² — trigger pixels, rarely lit in clean data,
carry outsized weight in a backdoored model — and the suspected target is the class with the
largest effective weight W_head·W1 on that pixel (ReLUs ignored); otherwise (convolutions, no pixel
position) the largest MAD anomaly of the head's per-class row norms. Threshold 3.5. Meta-classifier mode: forest
probability, threshold 0.5. The first-layer grid (``first_layer_grid``) is the visual evidence.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn

from .base import Detector, mad_anomaly, register_detector
from .meta import MetaClassifier, meta_score

_KEYS = ("alpha", "log_norm", "log_spectral_norm", "stable_rank", "num_spikes")


def weight_features(model: nn.Module, in_shape) -> torch.Tensor:
    from ...metrics.spectral import spectral_analysis

    spec = spectral_analysis(model, traps=False, keep_eigenvalues=False)
    rows = torch.tensor([[float(getattr(l, k)) for k in _KEYS] for l in spec.layers], dtype=torch.float64)
    rows = torch.nan_to_num(rows, nan=0.0, posinf=0.0, neginf=0.0)
    parts = [rows[0], rows[-1], rows.mean(0)]
    first = next(m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d)))
    w = first.weight.detach().double()
    if isinstance(first, nn.Linear) and w.shape[1] == math.prod(in_shape):
        energy = (w ** 2).sum(0).view(in_shape).sum(0).flatten()  # per input pixel
    else:
        energy = (w ** 2).sum((0, 1)).flatten()  # conv: per kernel position
    energy = energy / energy.sum().clamp_min(1e-12)
    e_sorted = energy.sort(descending=True).values
    parts.append(torch.stack([e_sorted[:4].sum(), e_sorted[: max(1, e_sorted.numel() // 8)].sum(),
                              energy.max() * energy.numel()]))
    head = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    norms = head.weight.detach().double().norm(dim=1)
    bias = head.bias.detach().double() if head.bias is not None else torch.zeros_like(norms)
    parts.append(mad_anomaly(norms).sort(descending=True).values[:3])
    parts.append(mad_anomaly(bias).sort(descending=True).values[:3])
    return torch.cat(parts)


@register_detector("weights")
class WeightsDetector(Detector):
    needs = "weights only"

    def __init__(self, meta: Optional[MetaClassifier] = None, threshold: Optional[float] = None) -> None:
        self.meta = meta
        self.threshold = float(threshold) if threshold is not None else (0.5 if meta is not None else 3.5)

    def features(self, model, ctx) -> torch.Tensor:
        return weight_features(model, ctx.in_shape)

    def _detect(self, model, ctx):
        feats = weight_features(model, ctx.in_shape)
        linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
        first = next(m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d)))
        head = linears[-1]
        if isinstance(first, nn.Linear) and first.in_features == math.prod(ctx.in_shape):
            w1 = first.weight.detach().double()
            anomaly = mad_anomaly((w1 ** 2).sum(0))
            pixel = int(anomaly.argmax())
            eff = head.weight.detach().double()
            for lin in reversed(linears[1:-1]):  # W_head · W_{L-1} ··· W_2 · W_1[:, pixel]
                eff = eff @ lin.weight.detach().double()
            target = int((eff @ w1[:, pixel]).argmax())
            unsup = float(anomaly[pixel])
        else:
            norms = head.weight.detach().double().norm(dim=1)
            target = int(norms.argmax())
            unsup = float(mad_anomaly(norms)[target])
        ms = meta_score(self.meta, feats.tolist())
        return (ms if ms is not None else unsup), target, {"unsupervised_score": unsup, "meta_score": ms,
                                                           "features": feats.tolist()}
