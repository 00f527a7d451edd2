"""Constrained adversarial training for feature-space classifiers (spam, phishing, malware features).

PGD-AT (Madry et al. 2018) whose inner maximization is ``attacks.pgd`` with the data's
``FeatureDomain``: every training point is attacked only through the changes its domain allows
(immutable features kept, add-only features only grown, bounds and integer/binary levels kept),
inside an L∞ ball of ε in units of the domain's ``scale`` (per-feature standard deviations for
spambase and phishing). The data's domain comes from the trainer (``ctx.domain``).
"""
from __future__ import annotations

from typing import Optional

import torch.nn.functional as F

from ...attacks.pgd import pgd
from ...domains.feature import FeatureDomain
from ._common import is_number, need
from .base import Method, MethodOutput, register_method


@register_method("constrained_pgd_at", domains=("feature",))
class ConstrainedPGDAT(Method):
    """min_θ E max_{x' valid, |x' − x| ≤ ε·scale} CE(h(x'), y); ε in units of the domain's scale."""

    def __init__(self, eps: float = 0.5, steps: int = 10, step_size: Optional[float] = None) -> None:
        need(is_number(eps) and eps > 0, "eps > 0 (units of the domain's scale)", eps)
        need(isinstance(steps, int) and steps >= 1, "steps an integer >= 1", steps)
        need(step_size is None or (is_number(step_size) and step_size > 0), "step_size None or > 0", step_size)
        self.eps, self.steps, self.step_size = eps, steps, step_size

    def loss(self, model, x, y, ctx):
        if not isinstance(ctx.domain, FeatureDomain):
            raise ValueError(f"constrained_pgd_at needs feature data with a FeatureDomain (e.g. spambase, "
                             f"phishing), got {getattr(ctx.domain, 'name', None)!r}")
        x_adv = pgd(ctx.module, x, y, self.eps, "Linf", self.steps, self.step_size, domain=ctx.domain,
                    generator=ctx.generator)
        logits = model(x_adv)
        return MethodOutput(F.cross_entropy(logits, y, label_smoothing=ctx.label_smoothing), logits)
