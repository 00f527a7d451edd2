"""Fast Adaptive Boundary attack (Croce & Hein, ICML 2020): minimal-norm adversarials, FAB and FAB-T."""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from .base import (_model_guard, bcast, check_inputs, flat_norm, rand_like,
                   register_attack_fn, top_targets)


def project_hyperplane_box(p: torch.Tensor, w: torch.Tensor, c: torch.Tensor, norm: str) -> torch.Tensor:
    """Minimal-norm δ with w·δ = c and p + δ ∈ [0, 1] (row-wise; p, w: n×D, c: n).

    Water-filling: moving each coordinate towards sign(w·c) by min(r·s_i, room_i) gives the value
    h(r) = Σ|w_i|·min(r·s_i, room_i), piecewise linear and non-decreasing in r (s_i = 1 for L∞,
    s_i = |w_i| for L2, where δ = clip(λw) is the KKT solution). The breakpoints are sorted and the
    smallest r with h(r) = |c| is solved in closed form. Infeasible rows get the full move
    (closest point of the box to the hyperplane in that direction).
    """
    flip = torch.where(c < 0, -1.0, 1.0).to(w.dtype)
    w = w * flip[:, None]
    c = c.abs()
    a = w.abs()
    room = torch.where(w > 0, 1 - p, p)
    room = torch.where(a > 0, room, torch.zeros_like(room))
    s = (a > 0).to(w.dtype) if norm == "Linf" else a
    t = torch.where(s > 0, room / s.clamp_min(1e-30), torch.zeros_like(room))
    t_sorted, order = t.sort(dim=1)
    a_s, room_s, s_s = a.gather(1, order), room.gather(1, order), s.gather(1, order)
    full = torch.cumsum(a_s * room_s, 1)  # Σ_{j≤k} a_j·room_j: coordinates already at their bound
    slope = (a_s * s_s).sum(1, keepdim=True) - torch.cumsum(a_s * s_s, 1)  # Σ_{j>k} a_j·s_j
    h = full + t_sorted * slope  # h(t_k)
    k = (h < c[:, None]).sum(1)  # first breakpoint reaching c
    d = p.shape[1]
    kk = (k - 1).clamp(min=0)[:, None]
    full_prev = torch.where(k > 0, full.gather(1, kk).squeeze(1), torch.zeros_like(c))
    slope_prev = torch.where(k > 0, slope.gather(1, kk).squeeze(1), (a * s).sum(1))
    r = (c - full_prev) / slope_prev.clamp_min(1e-30)
    r = torch.where(k >= d, t_sorted[:, -1] if d else c, r)
    return torch.sign(w) * torch.minimum(r[:, None] * s, room)


def _linearize(model, x1, y, yt):
    """f = z_t − z_y and its input gradient (targeted), or the closest linearized boundary over all
    classes (untargeted: argmin_l |f_l|/‖∇f_l‖_q, one backward per class)."""
    xr = x1.detach().requires_grad_(True)
    logits = model(xr)
    if yt is not None:
        f = logits.gather(1, yt[:, None]).squeeze(1) - logits.gather(1, y[:, None]).squeeze(1)
        (g,) = torch.autograd.grad(f.sum(), xr)
        return f.detach(), g
    k = logits.shape[1]
    grads = torch.stack([torch.autograd.grad(logits[:, j].sum(), xr, retain_graph=j < k - 1)[0]
                         for j in range(k)], 1)
    u = torch.arange(x1.shape[0], device=x1.device)
    f = (logits - logits[u, y][:, None]).detach()
    g = grads - grads[u, y][:, None]
    return f, g


def _fab_run(model, x0, y, yt, norm, steps, alpha_max, eta, beta, x_start, dual):
    """FAB iterations from ``x_start``; returns (best adversarial, its norm) per point (inf: none)."""
    n = x0.shape[0]
    flat0 = x0.flatten(1)
    best = x0.clone()
    res = torch.full((n,), float("inf"), device=x0.device, dtype=x0.dtype)
    x1 = x_start.clone()
    for _ in range(steps):
        with torch.enable_grad():
            f, g = _linearize(model, x1, y, yt)
        with torch.no_grad():
            g = g.flatten(1) if yt is not None else g.flatten(2)
            if yt is None:  # pick the class whose linearized boundary is closest
                dist = f.abs() / (flat_norm_last(g, dual) + 1e-12)
                dist[torch.arange(n, device=x0.device), y] = float("inf")
                j = dist.argmin(1)
                f, g = f.gather(1, j[:, None]).squeeze(1), g[torch.arange(n, device=x0.device), j]
            flat1 = x1.flatten(1)
            # the linearized boundary {z : f + g·(z − x1) = 0}, projected on from x1 and from x0
            d1 = project_hyperplane_box(flat1, g, -f, norm)
            d2 = project_hyperplane_box(flat0, g, (g * (flat1 - flat0)).sum(1) - f, norm)
            a1 = flat_norm(d1, norm).clamp_min(1e-8)
            a2 = flat_norm(d2, norm).clamp_min(1e-8)
            alpha = (a1 / (a1 + a2)).clamp(0.0, alpha_max)[:, None]
            nxt = ((flat1 + eta * d1) * (1 - alpha) + (flat0 + eta * d2) * alpha).clamp(0.0, 1.0)
            x1 = nxt.reshape(x0.shape)
            adv = model(x1).argmax(1) != y
            dist1 = flat_norm(x1 - x0, norm)
            better = adv & (dist1 < res)
            best = torch.where(bcast(better, x0), x1, best)
            res = torch.where(better, dist1, res)
            # step back towards x0 so the next iterates approach the boundary from the clean side
            x1 = torch.where(bcast(adv, x0), x0 + (x1 - x0) * beta, x1)
    return best, res


def flat_norm_last(g: torch.Tensor, dual: str) -> torch.Tensor:
    """Norm over the last axis (n×K×D -> n×K)."""
    return g.abs().sum(-1) if dual == "L1" else g.norm(dim=-1)


def fab(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: Optional[float] = None,
        norm: str = "Linf", targeted: bool = True, n_target_classes: int = 9, steps: int = 100,
        restarts: int = 1, alpha_max: float = 0.1, eta: float = 1.05, beta: float = 0.9,
        generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """FAB: iterate projections onto the linearized decision boundary, biased towards x.

    Croce & Hein, "Minimally distorted adversarial examples with a fast adaptive boundary attack",
    ICML 2020: x⁽ⁱ⁺¹⁾ = Π_[0,1]((1 − α)(x⁽ⁱ⁾ + η·δ⁽ⁱ⁾) + α(x + η·δ_orig)), α = min(‖δ⁽ⁱ⁾‖/(‖δ⁽ⁱ⁾‖ +
    ‖δ_orig‖), α_max), then x⁽ⁱ⁺¹⁾ ← x + β(x⁽ⁱ⁺¹⁾ − x) once adversarial. Defaults as fra31/auto-attack:
    ``steps`` = 100, α_max = 0.1, η = 1.05, β = 0.9, ``restarts`` = 1 (later restarts start at a
    random point at half the best norm so far). ``targeted=True`` is FAB-T: the boundary towards
    each of the ``n_target_classes`` (9) most likely wrong classes in turn, on the points still
    robust; untargeted FAB uses the closest boundary (one backward per class per step). Returns
    per point the smallest adversarial found with norm ≤ ``eps`` (any norm when ``eps`` is None),
    else x. Units: pixels of [0, 1] inputs.
    """
    check_inputs(x, y, eps, norm)
    if steps < 1 or restarts < 1:
        raise ValueError(f"expected steps >= 1 and restarts >= 1, got {steps} and {restarts}")
    x = x.detach()
    out = x.clone()
    if x.shape[0] == 0 or eps == 0:
        return out
    dual = "L1" if norm == "Linf" else "L2"
    limit = float("inf") if eps is None else float(eps)
    with _model_guard(model, fast=True) as model:
        with torch.no_grad():
            logits0 = model(x)
        robust = logits0.argmax(1) == y
        best_norm = torch.full((x.shape[0],), float("inf"), device=x.device, dtype=x.dtype)
        if targeted:
            n_t = min(int(n_target_classes), logits0.shape[1] - 1)
            targets = [top_targets(logits0, y, j) for j in range(1, n_t + 1)]
        else:
            targets = [None]
        for yt_all in targets:
            for r in range(restarts):
                idx = robust.nonzero().squeeze(1)
                if idx.numel() == 0:
                    return out
                x0 = x[idx]
                start = x0
                if r > 0:  # random start at half the best norm so far (or of ε)
                    rad = best_norm[idx].clamp(max=limit)
                    rad = bcast(torch.where(rad.isfinite(), rad, torch.zeros_like(rad)), x0)
                    t = 2 * rand_like(x0, generator) - 1 if norm == "Linf" else rand_like(x0, generator, "normal")
                    start = (x0 + 0.5 * rad * t / bcast(flat_norm(t, norm) + 1e-12, t)).clamp(0.0, 1.0)
                yt = yt_all[idx] if yt_all is not None else None
                adv, res = _fab_run(model, x0, y[idx], yt, norm, steps, alpha_max, eta, beta, start, dual)
                take = (res < best_norm[idx]) & (res <= limit)
                out[idx[take]] = adv[take]
                best_norm[idx[take]] = res[take]
                if eps is not None:  # within the budget the point counts as broken
                    robust[idx[take]] = False
    return out


FAB = register_attack_fn("fab", fab, "FAB", "Class form of :func:`fab` (``targeted=True``: FAB-T).")
