"""Projected gradient descent (Madry et al., ICLR 2018), L∞ and L2, with per-sample early stop."""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from ..domains import Domain, FeatureDomain, ImageDomain
from .base import (_model_guard, check_inputs, eps_unit, is_success, make_loss, normalize_direction,
                   project, random_start, register_attack_fn)


def _pgd_run(model, x, y, yt, eps, norm, steps, alpha, start, loss_fn, targeted, early_stop, gen, domain):
    """One PGD run from one start; returns x_adv (the last iterate, or the first adversarial one).

    A domain with integer/binary features (``FeatureDomain.relaxed`` differs) keeps a continuous
    iterate in its relaxation, so steps below one level accumulate; the model sees, and the gradient
    is taken at, the iterate's valid rounding (a straight-through estimator, Bengio et al. 2013),
    which is also what is returned."""
    relaxed = domain.relaxed() if isinstance(domain, FeatureDomain) else domain
    unit = eps_unit(domain, x)

    def valid(z, x0):
        return z if relaxed is domain else project(z, x0, eps, norm, domain)

    xa = random_start(x, eps, norm, gen, relaxed) if start else x.clone()
    linf = norm == "Linf" and (domain is None or isinstance(domain, ImageDomain))
    if linf:  # the L∞ ball ∩ [0, 1] is a box: two precomputed bounds, one in-place clamp per step
        lo, hi = (x - eps).clamp_(min=0.0), (x + eps).clamp_(max=1.0)
    if not early_stop:
        for _ in range(steps):
            xv = valid(xa, x).requires_grad_(True)
            (g,) = torch.autograd.grad(loss_fn(model(xv), y, yt).sum(), xv)
            xa = xa.detach()
            if linf:
                xa.add_(g.sign_(), alpha=alpha)
                torch.clamp(xa, lo, hi, out=xa)
            else:
                xa = project(xa.add_(normalize_direction(g, norm, unit), alpha=alpha), x, eps, norm, relaxed)
        return valid(xa, x)
    # early stop: a point leaves the working batch as soon as its current iterate is adversarial,
    # so later steps cost only the points still robust (robust-accuracy evaluation). One host sync
    # per step (the nonzero), a second only when points leave; survivors move by index_select.
    out = xa.clone()
    active = torch.arange(x.shape[0], device=x.device)
    xw, yw, ytw = x, y, yt
    for _ in range(steps):
        xv = valid(xa, xw).requires_grad_(True)
        logits = model(xv)
        (g,) = torch.autograd.grad(loss_fn(logits, yw, ytw).sum(), xv)
        xa, xv = xa.detach(), xv.detach()
        done = is_success(logits.detach(), yw, ytw, targeted)
        fin = done.nonzero().squeeze(1)
        if fin.numel():
            keep = (~done).nonzero().squeeze(1)
            out.index_copy_(0, active.index_select(0, fin), xv.index_select(0, fin))
            if keep.numel() == 0:
                return out
            active, xa, g, yw = (t.index_select(0, keep) for t in (active, xa, g, yw))
            ytw = ytw.index_select(0, keep) if ytw is not None else None
            if linf:
                lo, hi = lo.index_select(0, keep), hi.index_select(0, keep)
            else:
                xw = xw.index_select(0, keep)
        if linf:
            xa.add_(g.sign_(), alpha=alpha)
            torch.clamp(xa, lo, hi, out=xa)
        else:
            xa = project(xa.add_(normalize_direction(g, norm, unit), alpha=alpha), xw, eps, norm, relaxed)
    return out.index_copy_(0, active, valid(xa, xw))


def pgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, norm: str = "Linf",
        steps: int = 10, step_size: Optional[float] = None, random_start: bool = True,
        restarts: int = 1, loss: str = "ce", targeted: bool = False,
        y_target: Optional[torch.Tensor] = None, early_stop: bool = False,
        generator: Optional[torch.Generator] = None, domain: Optional[Domain] = None) -> torch.Tensor:
    """Projected gradient ascent on the loss inside the ε-ball ∩ [0, 1] (Madry et al. 2018).

    x ← Π(x + α·sign(∇L)) for L∞, Π(x + α·∇L/‖∇L‖₂) for L2, from a uniform random start in the
    ball. Defaults: ``steps=10``, ``step_size`` α = 2.5·ε/steps (Madry et al.'s rule, so the walk can
    cross the ball), ``loss`` "ce" or "margin" (Carlini–Wagner max_{i≠y} z_i − z_y).
    ``early_stop``: a point stops at its first adversarial iterate (same robust accuracy, less
    work). ``restarts`` > 1: later restarts only run on points not yet fooled; per point the first
    adversarial (else highest-loss) iterate is kept. ``eps``, ``step_size`` in pixel units.
    ``domain``: project every iterate onto its valid inputs too (default: images in [0, 1]); with a
    ``FeatureDomain`` this is constrained PGD: bounds, immutable and add-only features, integer and
    binary kinds hold for every input the model sees, ε and α are in units of the domain's
    ``scale`` (e.g. per-feature standard deviations), and integer features move by whole levels
    inside the ball (see ``_pgd_run``).
    """
    check_inputs(x, y, eps, norm, domain)
    if targeted and y_target is None:
        raise ValueError("expected y_target for a targeted attack, got None")
    if steps < 0 or restarts < 1:
        raise ValueError(f"expected steps >= 0 and restarts >= 1, got {steps} and {restarts}")
    x = x.detach()
    if x.shape[0] == 0 or eps == 0:
        return x.clone()
    alpha = 2.5 * eps / max(steps, 1) if step_size is None else float(step_size)
    loss_fn = make_loss(loss, targeted)
    args = (eps, norm, steps, alpha, random_start, loss_fn, targeted, early_stop, generator, domain)
    with _model_guard(model, fast=True) as model:
        if restarts == 1:
            return _pgd_run(model, x, y, y_target, *args)
        best = x.clone()
        best_loss = torch.full((x.shape[0],), float("-inf"), device=x.device)
        fooled = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
        for _ in range(restarts):
            idx = (~fooled).nonzero().squeeze(1)
            if idx.numel() == 0:
                break
            yt = y_target[idx] if y_target is not None else None
            xa = _pgd_run(model, x[idx], y[idx], yt, *args)
            with torch.no_grad():
                logits = model(xa)
                lo = loss_fn(logits, y[idx], yt)
                ok = is_success(logits, y[idx], yt, targeted)
            better = ok | (lo > best_loss[idx])
            best[idx[better]] = xa[better]
            best_loss[idx[better]] = lo[better]
            fooled[idx[ok]] = True
        return best


PGD = register_attack_fn("pgd", pgd, "PGD", "Class form of :func:`pgd`.", domains=("image", "feature"))
