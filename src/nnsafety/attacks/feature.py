"""Constrained PGD for feature-space classifiers (``FeatureDomain``: spam, phishing, ...).

PGD in the L∞ ball of the change measured per feature in units of ``scale`` (default: the model's
``normalize.std``, the training data's per-feature standard deviation, so ε = 0.5 allows half a
standard deviation on every feature), with each step projected onto the valid changes: the ball,
then ``FeatureDomain.project`` (immutable features restored, add-only / remove-only directions,
bounds, integer and binary levels). Rounding to a level may leave the ball; such a coordinate goes
back to its original value. The constraints are per feature, so the result satisfies every one of
them and the ball (tested with hypothesis).
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from ..domains.feature import FeatureDomain
from .base import _model_guard, ce_loss, register_attack_fn


def model_scale(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The model's per-feature std (its ``normalize`` layer) or ones."""
    std = getattr(getattr(model, "normalize", None), "std", None)
    if std is None or std.numel() != x.shape[1]:
        return torch.ones(x.shape[1], dtype=x.dtype, device=x.device)
    return std.reshape(-1).to(x)


def project_ball_domain(x_adv: torch.Tensor, x: torch.Tensor, radius: torch.Tensor, domain: FeatureDomain) -> torch.Tensor:
    """Onto {|x' − x| ≤ radius per feature} ∩ the domain's valid changes of ``x``. For integer and
    binary features the ball is first shrunk to whole levels, so rounding cannot leave it."""
    discrete = torch.tensor([k != "real" for k in domain.kinds], device=x.device)
    lo = torch.where(discrete, torch.ceil(x - radius), x - radius)
    hi = torch.where(discrete, torch.floor(x + radius), x + radius)
    p = domain.project(torch.maximum(torch.minimum(x_adv, hi), lo), x)
    return torch.where((p - x).abs() <= radius, p, x)


def constrained_pgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, domain: Optional[FeatureDomain] = None,
                    eps: float = 0.5,
                    steps: int = 20, step_size: Optional[float] = None, scale: Optional[torch.Tensor] = None,
                    norm: str = "Linf") -> torch.Tensor:
    """Untargeted PGD on the cross-entropy (Madry et al. 2018) inside ``domain``; ``eps`` and
    ``step_size`` (default 2.5·ε/steps) in units of ``scale``. The ascent runs on a continuous
    iterate (integer/binary features relaxed to reals, so small steps can accumulate); each step's
    valid rounding is evaluated and the best one per input (highest loss) is returned."""
    if not isinstance(domain, FeatureDomain):
        raise ValueError(f"expected a FeatureDomain, got {type(domain).__name__}")
    if norm != "Linf":
        raise ValueError(f"expected norm 'Linf' (the per-feature ball), got {norm!r}")
    domain.check(x)
    if not eps >= 0 or int(steps) < 1:
        raise ValueError(f"expected eps >= 0 and steps >= 1, got eps={eps}, steps={steps}")
    s = model_scale(model, x) if scale is None else torch.as_tensor(scale, dtype=x.dtype, device=x.device)
    radius = (eps * s).expand_as(x)
    alpha = (2.5 * eps / int(steps) if step_size is None else step_size) * s
    relaxed = FeatureDomain(domain.lower, domain.upper, None, domain.mutable, domain.direction)
    x = x.detach()
    x_cont, best = x.clone(), x.clone()
    with _model_guard(model) as net:
        with torch.no_grad():
            best_loss = ce_loss(net(x), y)
        for _ in range(int(steps)):
            x_cont.requires_grad_(True)
            (g,) = torch.autograd.grad(ce_loss(net(x_cont), y).sum(), x_cont)
            x_cont = project_ball_domain(x_cont.detach() + alpha * g.sign(), x, radius, relaxed)
            cand = project_ball_domain(x_cont, x, radius, domain)
            with torch.no_grad():
                loss = ce_loss(net(cand), y)
            better = loss > best_loss
            best = torch.where(better[:, None], cand, best)
            best_loss = torch.where(better, loss, best_loss)
    return best


ConstrainedPGD = register_attack_fn("constrained_pgd", constrained_pgd, "ConstrainedPGD",
                                    "Class form of :func:`constrained_pgd`: ``ConstrainedPGD(eps=0.5)(model, x, y, "
                                    "domain=dataset.domain)``.", domains=("feature",))
