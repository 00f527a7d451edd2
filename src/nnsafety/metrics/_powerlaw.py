"""Continuous power-law tail fit (Clauset, Shalizi, Newman 2009), vectorized over candidate x_min.

For sorted data x_0 ≤ … ≤ x_{n-1} and candidate x_min = x_i (every point but the last, as
WeightWatcher 0.7.7's default ``WWFit`` does), the MLE on the tail of n_i = n - i points is

    α_i = 1 + n_i / Σ_{j≥i} log(x_j / x_i)

(suffix sums of logs give all α_i at once), and the KS distance between the fitted CDF
1 - (x / x_i)^(1-α_i) and the empirical one, evaluated as WeightWatcher does at (j - i) / n_i,

    D_i = max_{j≥i} | 1 - (x_j / x_i)^(1-α_i) - (j - i) / n_i |

is one masked broadcast over an (i, j) block, chunked so memory stays at ``chunk`` entries.
x_min = argmin_i D_i (candidates with α_i ≤ 1 get D = 1). Tails shorter than 20 points use
WeightWatcher's small-n rule: bias-corrected α = 1 + (n_i - 1)/Σ log on tails of ≥ 8 points, x_min
still by the smallest D_i.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

SMALL_N = 20


@dataclass
class PowerLawFit:
    alpha: float
    xmin: float
    ks_distance: float
    sigma: float  # (α - 1)/√n_tail, the MLE's standard error
    n_tail: int


def _ks_distances(x: torch.Tensor, logx: torch.Tensor, alphas: torch.Tensor, chunk: int) -> torch.Tensor:
    n = x.numel()
    m = alphas.numel()  # candidates i = 0 .. m-1
    out = torch.ones(m, dtype=torch.float64)
    s = 0
    while s < m:
        cols = n - s  # only j >= s can matter for rows i >= s
        e = min(m, s + max(1, chunk // cols))
        i = torch.arange(s, e)
        rel = torch.arange(s, n).unsqueeze(0) - i.unsqueeze(1)  # j - i
        a = alphas[s:e].unsqueeze(1)
        # |1 - (x_j/x_i)^(1-α) - (j-i)/n_i|, zero where j < i (the fitted CDF is 0 there too)
        dist = torch.exp((1 - a) * (logx[s:].unsqueeze(0) - logx[s:e].unsqueeze(1)))
        dist.neg_().add_(1).sub_(rel.clamp_min(0).to(torch.float64) / (n - i).unsqueeze(1)).abs_()
        dist.masked_fill_(rel < 0, 0.0)
        d = dist.max(1).values
        out[s:e] = torch.where(alphas[s:e] > 1, d, torch.ones_like(d))
        s = e
    return out


def fit_powerlaw(values: torch.Tensor, thresh: float = 1e-5, chunk: int = 1 << 22) -> PowerLawFit:
    """Fit α and x_min to the positive ``values`` above ``thresh`` (see module docstring)."""
    x = torch.sort(values.detach().to(torch.float64).flatten().cpu()).values
    x = x[x > thresh]
    n = x.numel()
    if n < 2:
        return PowerLawFit(float("nan"), float("nan"), float("nan"), float("nan"), n)
    logx = torch.log(x)
    suffix = torch.flip(torch.cumsum(torch.flip(logx, [0]), 0), [0])  # Σ_{j≥i} log x_j
    i = torch.arange(n - 1)
    n_i = (n - i).to(torch.float64)
    s = suffix[:-1] - n_i * logx[:-1]
    if n >= SMALL_N:
        alphas = 1 + n_i / s
        d = _ks_distances(x, logx, alphas, chunk)
        best = int(torch.argmin(d))
    else:
        ok = (n_i >= 8) & (s > 1e-12)
        alphas = torch.where(ok, 1 + (n_i - 1) / s.clamp_min(1e-300), torch.zeros_like(s))
        d = torch.where(ok, _ks_distances(x, logx, alphas, chunk), torch.ones_like(s))
        if not ok.any():
            alphas[0] = 1 + (n - 1) / s[0] if s[0] > 1e-12 else 1.0
        # WeightWatcher computes the objective D - 0.868/√n_i but then keeps argmin D; so do we
        best = int(torch.argmin(d))
    a = float(alphas[best])
    return PowerLawFit(a, float(x[best]), float(d[best]), (a - 1) / float(n_i[best]) ** 0.5, int(n - best))
