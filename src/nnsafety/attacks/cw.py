"""Carlini–Wagner L2 attack (Carlini & Wagner, IEEE S&P 2017): minimal-norm adversarials."""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from .base import _model_guard, bcast, check_inputs, margin_loss, register_attack_fn


def cw_l2(model: nn.Module, x: torch.Tensor, y: torch.Tensor, c: float = 1e-3,
          binary_steps: int = 9, steps: int = 100, lr: float = 0.01, kappa: float = 0.0,
          targeted: bool = False, y_target: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Minimize ‖x' − x‖₂² + c·f(x') over x' = (tanh(w) + 1)/2, binary-searching c per point.

    f(x') = max(z_y − max_{i≠y} z_i, −κ) (untargeted) or max(max_{i≠t} z_i − z_t, −κ) (targeted),
    Carlini & Wagner 2017. Defaults from their code: initial ``c`` = 1e-3, ``binary_steps`` = 9
    (c ×10 until a success, then bisection), Adam with ``lr`` = 0.01, κ = 0; ``steps`` = 100 per
    c (theirs: up to 10 000 with early abort) to keep the cost at 900 forward+backward passes.
    Pixels at exactly 0 or 1 start where tanh is saturated and move slowly: with short budgets
    ``lr`` = 0.05 finds smaller perturbations (digits cnn: 100 % vs 95 % success at 100 steps).
    Returns, per point, the smallest-L2 adversarial found, or x itself when none was found (no ε:
    the result is not confined to a ball). Units: pixels of [0, 1] inputs.
    """
    check_inputs(x, y)
    if targeted and y_target is None:
        raise ValueError("expected y_target for a targeted attack, got None")
    if binary_steps < 1 or steps < 1 or c <= 0:
        raise ValueError(f"expected binary_steps, steps >= 1 and c > 0, got {binary_steps}, {steps}, {c}")
    x = x.detach()
    best = x.clone()
    n = x.shape[0]
    if n == 0:
        return best
    lab = y_target if targeted else y
    sign = -1.0 if targeted else 1.0
    w0 = torch.atanh((2 * x - 1) * (1 - 1e-6))  # x' = x at the start (up to 1e-6)
    lower = torch.zeros(n, device=x.device, dtype=x.dtype)
    upper = torch.full((n,), 1e10, device=x.device, dtype=x.dtype)
    const = torch.full((n,), float(c), device=x.device, dtype=x.dtype)
    best_l2 = torch.full((n,), float("inf"), device=x.device, dtype=x.dtype)
    with _model_guard(model, fast=True) as model:
        for _ in range(binary_steps):
            w = w0.clone().requires_grad_(True)
            opt = torch.optim.Adam([w], lr=lr)
            succeeded = torch.zeros(n, dtype=torch.bool, device=x.device)
            for _ in range(steps):
                xa = (torch.tanh(w) + 1) / 2
                logits = model(xa)
                l2 = (xa - x).pow(2).flatten(1).sum(1)
                # gap > 0 ⇔ still not adversarial (by margin κ)
                gap = -sign * margin_loss(logits, lab) + kappa
                f = gap.clamp_min(0.0) - kappa  # = max(gap_without_κ, −κ)
                (g,) = torch.autograd.grad((l2 + const * f).sum(), w)
                with torch.no_grad():
                    ok = gap <= 0
                    ok &= (logits.argmax(1) == y_target) if targeted else (logits.argmax(1) != y)
                    improved = ok & (l2 < best_l2)
                    best_l2 = torch.where(improved, l2, best_l2)
                    best = torch.where(bcast(improved, x), xa.detach(), best)
                    succeeded |= ok
                w.grad = g
                opt.step()
            upper = torch.where(succeeded, torch.minimum(upper, const), upper)
            lower = torch.where(succeeded, lower, torch.maximum(lower, const))
            const = torch.where(succeeded | (upper < 1e9), (lower + upper) / 2, const * 10)
    return best.clamp_(0.0, 1.0)


CWL2 = register_attack_fn("cw_l2", cw_l2, "CWL2", "Class form of :func:`cw_l2` (minimal-norm: no ε).",
                          fixed_norm="L2")
