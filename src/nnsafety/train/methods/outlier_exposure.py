"""Outlier exposure on synthetic noise: noise inputs are trained towards the uniform prediction.

Hendrycks, Mazeika & Dietterich, "Deep Anomaly Detection with Outlier Exposure" (ICLR 2019): add
to the CE of the batch ``weight`` × the cross-entropy from the uniform distribution to f(x_out),
i.e. mean over outliers of −(1/K)·Σ_k log softmax(f(x_out))_k. Here the outliers are synthetic
noise images drawn like the data-free detectors' probes (a uniform-random image, a random constant
image with Gaussian noise of level ∈ [0.1, 1], or salt-and-pepper of density ∈ [0.1, 1]), ``ratio``
× the batch size per step. A calibration method for clean models, and the "noise-aware" adaptive
attacker of the backdoor zoo: a backdoored model trained this way gives noise no class to collapse
onto, so noise titration sees nothing.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ... import _random
from ._common import is_number, need
from .base import Method, MethodOutput, register_method


def noise_outliers(n: int, shape, generator, device, dtype=torch.float32) -> torch.Tensor:
    """``n`` synthetic noise images of ``shape`` (C×H×W) in [0, 1], one of three kinds each."""
    c, h, w = shape
    kind = _random.randint(0, 3, (n, 1, 1, 1), generator, device)
    level = 0.1 + 0.9 * _random.rand((n, 1, 1, 1), generator, device, dtype)
    uniform = _random.rand((n, c, h, w), generator, device, dtype)
    const = _random.rand((n, 1, 1, 1), generator, device, dtype).expand(n, c, h, w)
    gauss = const + level * _random.randn((n, c, h, w), generator, device, dtype)
    flip = _random.rand((n, c, h, w), generator, device, dtype) < level
    salt = torch.where(flip, (_random.rand((n, c, h, w), generator, device, dtype) < 0.5).to(dtype), const)
    return torch.where(kind == 0, uniform, torch.where(kind == 1, gauss, salt)).clamp_(0.0, 1.0)


@register_method("outlier_exposure")
class OutlierExposure(Method):
    """CE + ``weight``·CE(uniform, f(noise)) with ``ratio``·B noise images per step (module doc);
    the paper's weight for vision is 0.5."""

    def __init__(self, weight: float = 0.5, ratio: float = 0.5) -> None:
        need(is_number(weight) and weight >= 0, "weight >= 0", weight)
        need(is_number(ratio) and ratio > 0, "ratio > 0", ratio)
        self.weight, self.ratio = weight, ratio

    def loss(self, model, x, y, ctx):
        n_out = max(1, int(round(self.ratio * x.shape[0])))
        if x.dim() != 4:
            raise ValueError(f"expected image batches N×C×H×W for outlier_exposure, got shape {tuple(x.shape)}")
        outliers = noise_outliers(n_out, x.shape[1:], ctx.generator, x.device, x.dtype)
        logits = model(torch.cat([x, outliers]))
        ce = F.cross_entropy(logits[: x.shape[0]], y, label_smoothing=ctx.label_smoothing)
        to_uniform = -logits[x.shape[0]:].log_softmax(1).mean(1).mean()
        return MethodOutput(ce + self.weight * to_uniform, logits[: x.shape[0]])
