"""Constrained adversarial training for feature-space classifiers (spam, phishing, malware features).

PGD-AT (Madry et al. 2018) whose inner maximization is ``attacks.constrained_pgd``: every training
point is attacked only through the changes its ``FeatureDomain`` allows (immutable features kept,
add-only features only grown, bounds and integer/binary levels kept), inside an L∞ ball of ε
per-feature standard deviations (the model's ``normalize.std``). The data's domain comes from the
trainer (``ctx.domain``).
"""
from __future__ import annotations

from typing import Optional

import torch.nn.functional as F

from ...attacks.feature import constrained_pgd
from ...domains.feature import FeatureDomain
from ._common import is_number, need
from .base import Method, MethodOutput, register_method


@register_method("constrained_pgd_at", domains=("feature",))
class ConstrainedPGDAT(Method):
    """min_θ E max_{x' valid, |x' − x| ≤ ε·std} CE(h(x'), y); ε in per-feature std units."""

    def __init__(self, eps: float = 0.5, steps: int = 10, step_size: Optional[float] = None) -> None:
        need(is_number(eps) and eps > 0, "eps > 0 (per-feature std units)", eps)
        need(isinstance(steps, int) and steps >= 1, "steps an integer >= 1", steps)
        need(step_size is None or (is_number(step_size) and step_size > 0), "step_size None or > 0", step_size)
        self.eps, self.steps, self.step_size = eps, steps, step_size

    def loss(self, model, x, y, ctx):
        if not isinstance(ctx.domain, FeatureDomain):
            raise ValueError(f"constrained_pgd_at needs feature data with a FeatureDomain (e.g. spambase, "
                             f"phishing), got {getattr(ctx.domain, 'name', None)!r}")
        x_adv = constrained_pgd(ctx.module, x, y, ctx.domain, self.eps, self.steps, self.step_size)
        logits = model(x_adv)
        return MethodOutput(F.cross_entropy(logits, y, label_smoothing=ctx.label_smoothing), logits)
