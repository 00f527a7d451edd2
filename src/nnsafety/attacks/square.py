"""Square Attack (Andriushchenko, Croce, Flammarion & Hein, ECCV 2020): score-based random search."""
from __future__ import annotations

import functools
import math
from typing import Optional

import torch
from torch import nn

from .base import (_model_guard, bcast, check_inputs, flat_norm, margin_loss, project,
                   randint, register_attack_fn)


def p_selection(p_init: float, it: int, n_queries: int) -> float:
    """Fraction of pixels changed at iteration ``it``: p_init halved at the reference's iterations
    10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000 of a 10 000-query schedule, rescaled to
    ``n_queries`` (fra31/auto-attack ``rescale_schedule=True``)."""
    it = int(it / n_queries * 10000)
    for k, bound in enumerate((10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000)):
        if it <= bound:
            return p_init / 2 ** k
    return p_init / 512


def _signs(shape, gen, device, dtype) -> torch.Tensor:
    return randint(0, 2, shape, gen, device).to(dtype).mul_(2).sub_(1)


@functools.lru_cache(maxsize=64)
def _eta(s: int, transpose: bool, device, dtype) -> torch.Tensor:
    """The s×s 'meta pseudo-Gaussian' of the L2 Square attack: two opposite-signed halves, each a
    sum of concentric rectangles weighted 1/(r+1)², normalized to unit L2 norm."""
    def rect(a: int, b: int) -> torch.Tensor:
        d = torch.zeros(a, b, device=device, dtype=dtype)
        ca, cb = a // 2, b // 2
        for r in range(max(ca, cb) + 1):
            d[max(ca - r, 0):min(ca + r + 1, a), max(cb - r, 0):min(cb + r + 1, b)] += 1.0 / (r + 1) ** 2
        return d / d.norm().clamp_min(1e-12)

    d = torch.zeros(s, s, device=device, dtype=dtype)
    h = s // 2
    if h:
        d[:h] = rect(h, s)
    d[h:] = -rect(s - h, s)
    d = d / d.norm()
    return d.t() if transpose else d


def _margin(model, x, y):
    with torch.no_grad():
        return -margin_loss(model(x), y)  # z_y − max_{i≠y} z_i: ≤ 0 ⇔ misclassified


def _square_run(model, x, y, eps, norm, n_queries, p_init, gen):
    n, c, h, w = x.shape
    dev, dt = x.device, x.dtype
    n_feat = c * h * w
    if norm == "Linf":  # vertical stripes of ±ε (one sign per column and channel)
        x_best = (x + eps * _signs((n, c, 1, w), gen, dev, dt)).clamp(0.0, 1.0)
    else:  # a grid of pseudo-Gaussian squares with random signs, rescaled to norm ε
        delta = torch.zeros_like(x)
        s0 = max(min(h, w) // 5, 1)
        for vh in range((h - s0 * (h // s0)) // 2, h - s0 + 1, s0):
            for vw in range((w - s0 * (w // s0)) // 2, w - s0 + 1, s0):
                delta[:, :, vh:vh + s0, vw:vw + s0] += _eta(s0, False, dev, dt) * _signs((n, c, 1, 1), gen, dev, dt)
        x_best = (x + delta / bcast(flat_norm(delta, "L2") + 1e-12, x) * eps).clamp(0.0, 1.0)
    margin = _margin(model, x_best, y)
    # working set = points still correctly classified; compacted only when one gets fooled
    idx = (margin > 0).nonzero().squeeze(1)
    xc, xb, yc, mc = x[idx], x_best[idx], y[idx], margin[idx]
    for i in range(n_queries):
        if idx.numel() == 0:
            break
        m = idx.numel()
        p = p_selection(p_init, i, n_queries)
        if norm == "Linf":
            s = min(max(int(round(math.sqrt(p * n_feat / c))), 1), h, w)
            vh, vw = divmod(int(randint(0, (h - s + 1) * (w - s + 1), (1,), gen, dev)), w - s + 1)
            delta = xb - xc
            win_x, win_b = xc[:, :, vh:vh + s, vw:vw + s], xb[:, :, vh:vh + s, vw:vw + s]
            new = eps * _signs((m, c, 1, 1), gen, dev, dt)
            # redraw the signs where the square would leave the image unchanged (wasted query)
            for _ in range(10):
                same = ((win_x + new).clamp(0.0, 1.0) - win_b).abs().lt(1e-7).flatten(1).all(1)
                if not same.any():
                    break
                new = torch.where(bcast(same, new), eps * _signs((m, c, 1, 1), gen, dev, dt), new)
            delta[:, :, vh:vh + s, vw:vw + s] = new
            x_new = (xc + delta).clamp(0.0, 1.0)
        else:
            s = min(max(int(round(math.sqrt(p * n_feat / c))), 3), h, w)
            s = s + 1 if s % 2 == 0 and s < min(h, w) else s
            delta = xb - xc
            cells = (h - s + 1) * (w - s + 1)
            r = randint(0, cells, (2,), gen, dev).tolist()
            (vh, vw), (vh2, vw2) = divmod(r[0], w - s + 1), divmod(r[1], w - s + 1)
            w1 = delta[:, :, vh:vh + s, vw:vw + s]
            mask = torch.zeros_like(xc[:1])
            mask[:, :, vh:vh + s, vw:vw + s] = 1.0
            mask[:, :, vh2:vh2 + s, vw2:vw2 + s] = 1.0
            norm_img = bcast(flat_norm(delta, "L2"), xc)
            norm_win = bcast(flat_norm(delta * mask, "L2"), xc)
            transpose = bool(randint(0, 2, (1,), gen, dev))
            new = _eta(s, transpose, dev, dt).expand(m, c, s, s) * _signs((m, c, 1, 1), gen, dev, dt)
            new = new + w1 / (w1.pow(2).sum((-2, -1), keepdim=True).sqrt() + 1e-12)
            # the two windows' mass plus the budget left is spread over the new square
            budget = ((eps ** 2 - norm_img ** 2).clamp_min(0.0) / c + norm_win ** 2).sqrt()
            new = new / (new.pow(2).sum((-2, -1), keepdim=True).sqrt() + 1e-12) * budget
            delta[:, :, vh2:vh2 + s, vw2:vw2 + s] = 0.0
            delta[:, :, vh:vh + s, vw:vw + s] = new
            x_new = (xc + delta / bcast(flat_norm(delta, "L2") + 1e-12, xc) * eps).clamp(0.0, 1.0)
        m_new = _margin(model, x_new, yc)
        better = m_new < mc  # margin loss improved, or the point is now misclassified
        mc = torch.where(better, m_new, mc)
        xb = torch.where(bcast(better, xc), x_new, xb)
        fooled = mc <= 0
        if fooled.any():
            x_best[idx] = xb
            keep = ~fooled
            idx, xc, xb, yc, mc = idx[keep], xc[keep], xb[keep], yc[keep], mc[keep]
    x_best[idx] = xb
    return project(x_best, x, eps, norm)


def square(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, norm: str = "Linf",
           n_queries: int = 5000, p_init: float = 0.8, restarts: int = 1,
           generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Black-box Square Attack: random square updates accepted when the margin loss decreases.

    Andriushchenko et al. 2020 with fra31/auto-attack defaults: margin loss z_y − max_{i≠y} z_i,
    ``n_queries`` = 5000 iterations after the initial query, ``p_init`` = 0.8 with the piecewise
    halving schedule (:func:`p_selection`), side s = round(√(p·C·H·W/C)). L∞: init with vertical
    stripes ±ε, each step sets one s×s square (all channels, random sign per channel) to ±ε. L2:
    init with a grid of pseudo-Gaussian squares; each step moves the mass of one square and of a
    second one into a new pseudo-Gaussian square (norm kept at ε). Only points still correctly
    classified are queried. N×D inputs are treated as 1×1×D images. ``eps`` in pixel units.
    """
    check_inputs(x, y, eps, norm)
    if n_queries < 0 or restarts < 1 or not 0 < p_init <= 1:
        raise ValueError(f"expected n_queries >= 0, restarts >= 1, 0 < p_init <= 1, got "
                         f"{n_queries}, {restarts}, {p_init}")
    x = x.detach()
    out = x.clone()
    if x.shape[0] == 0 or eps == 0:
        return out
    shape = x.shape
    x4 = x if x.dim() == 4 else x.reshape(shape[0], 1, 1, -1)
    with _model_guard(model, fast=True) as model:
        model4 = model if x.dim() == 4 else _Flatten(model, shape[1:])
        out4 = x4.clone()
        robust = _margin(model4, x4, y) > 0
        for _ in range(restarts):
            idx = robust.nonzero().squeeze(1)
            if idx.numel() == 0:
                break
            xa = _square_run(model4, x4[idx], y[idx], eps, norm, n_queries, p_init, generator)
            out4[idx] = xa
            robust[idx] = _margin(model4, xa, y[idx]) > 0
    return out4.reshape(shape)


class _Flatten(nn.Module):
    """Calls a model of N×D inputs on the 1×1×D images Square works with."""

    def __init__(self, model: nn.Module, shape) -> None:
        super().__init__()
        self.model, self.shape = model, tuple(shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.reshape(x.shape[0], *self.shape))


Square = register_attack_fn("square", square, "Square", "Class form of :func:`square`.")
