"""Gaussian input-noise augmentation: the noise-injection baseline."""
from __future__ import annotations

import torch.nn.functional as F

from ... import _random
from ._common import is_number, need
from .base import Method, MethodOutput, register_method


@register_method("noise")
class GaussianNoise(Method):
    """CE on clip_[0,1](x + σ·ε), ε ~ N(0, I) (Gaussian data augmentation, e.g. Lopes et al. 2019).

    ``sigma`` in pixel units of [0, 1] inputs, default 0.1.
    """

    def __init__(self, sigma: float = 0.1) -> None:
        need(is_number(sigma) and sigma >= 0, "sigma >= 0", sigma)
        self.sigma = sigma

    def loss(self, model, x, y, ctx):
        noisy = (x + self.sigma * _random.randn(x.shape, ctx.generator, x.device, x.dtype)).clamp_(0.0, 1.0)
        logits = model(noisy)
        return MethodOutput(F.cross_entropy(logits, y, label_smoothing=ctx.label_smoothing), logits)
