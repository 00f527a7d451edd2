"""AugMix with the Jensen–Shannon consistency loss (Hendrycks et al., ICLR 2020)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ...augment import augmix, jsd_loss
from ...augment.text import text_augmix
from ._common import is_number, need
from .base import Method, MethodOutput, register_method


def check_augmix_args(severity, width, depth, aug_alpha) -> None:
    need(is_number(severity) and 0 < severity <= 10, "severity in (0, 10]", severity)
    need(isinstance(width, int) and width >= 1, "width an integer >= 1", width)
    need(isinstance(depth, int) and (depth == -1 or depth >= 1), "depth -1 or an integer >= 1", depth)
    need(is_number(aug_alpha) and aug_alpha > 0, "aug_alpha > 0", aug_alpha)


def augmix_views(x: torch.Tensor, method, generator) -> torch.Tensor:
    """[x; A(x); A(x)] (3B rows) with two independent AugMix draws; token ids get text AugMix views
    (chains of word ops, ``augment.text.text_augmix``); N×D inputs have no image ops, so their three
    views are copies of x (they then differ only by what the method adds)."""
    if not x.is_floating_point():
        kw = dict(severity=method.severity, depth=method.depth, generator=generator)
        return torch.cat([x, text_augmix(x, **kw), text_augmix(x, **kw)])
    if x.dim() != 4:
        return torch.cat([x, x, x])
    kw = dict(severity=method.severity, width=method.width, depth=method.depth, alpha=method.aug_alpha,
              generator=generator)
    return torch.cat([x, augmix(x, **kw), augmix(x, **kw)])


@register_method("augmix", domains=("image", "token"))
class AugMix(Method):
    """loss = CE(h(x), y) + λ·JSD(h(x), h(A₁(x)), h(A₂(x))), one forward over the 3B stacked views.

    Defaults of the paper/reference code: ``severity`` 3, ``width`` 3 chains, ``depth`` −1 (1–3 ops
    per chain), ``aug_alpha`` 1 (Dirichlet(1) chain weights, Beta(1, 1) skip weight), ``jsd_weight``
    λ = 12. Images (N×C×H×W) or token ids (text AugMix views: chains of word ops, no convex mix).
    """

    def __init__(self, severity: float = 3, width: int = 3, depth: int = -1, aug_alpha: float = 1.0,
                 jsd_weight: float = 12.0) -> None:
        check_augmix_args(severity, width, depth, aug_alpha)
        need(is_number(jsd_weight) and jsd_weight >= 0, "jsd_weight >= 0", jsd_weight)
        self.severity, self.width, self.depth, self.aug_alpha = severity, width, depth, aug_alpha
        self.jsd_weight = jsd_weight

    def loss(self, model, x, y, ctx):
        if x.dim() != 4 and x.is_floating_point():
            raise ValueError(f"expected images of shape N×C×H×W or token ids for augmix, got shape {tuple(x.shape)}")
        clean, aug1, aug2 = model(augmix_views(x, self, ctx.generator)).chunk(3)
        loss = F.cross_entropy(clean, y, label_smoothing=ctx.label_smoothing)
        return MethodOutput(loss + self.jsd_weight * jsd_loss(clean, aug1, aug2), clean)
