"""Exact Poisson sampling by table inversion, for rates that take a few known values.

Shot noise draws Poisson(c·x) per value. ``torch.poisson`` on CPU runs NumPy's per-element
algorithms (PTRS above rate 10, multiplication below) in a serial loop, ~60–90 ns a sample; a
vectorized PTRS in torch ops is no faster (tried: ~25 whole-tensor ops per draw plus compaction).
Images from a dataset are uint8, x = v/255, so the rates are c·v/255 for at most 256 levels v,
and inversion over precomputed CDF tables needs one uniform and a handful of gathers per value:
- row v of the table is F_v(k) = P(Poisson(c·v/255) <= k), k < K, summed in float64 from the
  pmf (K covers the mean + 12 standard deviations + 20: the mass left out is < 1e-30);
- a guide table (Chen & Asau 1974; Devroye, *Non-Uniform Random Variate Generation*, 1986,
  §III.2.4) stores for each cell [j/G, (j+1)/G) of u the smallest k with F_v(k) >= j/G, so the
  inversion k = min{k : F_v(k) >= u} starts at most a few steps from its answer: one step is
  done for every value, the rare ones that need more (the tails, where F has many points in one
  cell) are compacted and stepped until done.
Exact in law for the uniform used; torch's float32 uniforms have 24-bit resolution, so each
probability is realized to within 2⁻²⁴ (the same resolution as any sampler fed float32 draws).
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Optional, Tuple

import torch

LEVELS = 255  # rates c·v/255, v = 0..255: the values a uint8 image takes in [0, 1]
GUIDE = 1024  # guide cells per row


@lru_cache(maxsize=32)
def cdf_tables(c: float) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """Tables for the rates c·v/255, v = 0..255, each row K long (flat, row-major):
    ``cdf32`` (F_v(k) in float32, what the per-value step compares with), ``lifted`` (v + F_v(k)
    in float64: increasing over the whole flat table, so one ``searchsorted`` finds any row's
    inverse), ``guide`` (256·G flat indices of the smallest k with F_v(k) >= j/G) and K."""
    lam = torch.arange(LEVELS + 1, dtype=torch.float64) * (float(c) / LEVELS)
    lam_max = float(lam[-1])
    kmax = int(math.ceil(lam_max + 12 * math.sqrt(lam_max) + 20))
    k = torch.arange(kmax, dtype=torch.float64)
    logp = k * torch.log(lam.clamp_min(1e-300).unsqueeze(1)) - lam.unsqueeze(1) - torch.lgamma(k + 1)
    pmf = torch.exp(logp)
    pmf[0] = 0.0
    pmf[0, 0] = 1.0  # rate 0: always 0
    cdf = pmf.cumsum(1).clamp_(max=1.0)
    cdf[:, -1] = 1.0  # the last entry takes the (< 1e-30) tail: inversion always ends in its row
    cells = torch.arange(GUIDE, dtype=torch.float64) / GUIDE
    start = torch.searchsorted(cdf, cells.expand(LEVELS + 1, GUIDE).contiguous())
    rows = torch.arange(LEVELS + 1).unsqueeze(1)
    guide = (start + rows * kmax).int()  # int32 indices: half the memory traffic of int64
    lifted = cdf + rows.double()
    return cdf.float().reshape(-1), lifted.reshape(-1), guide.reshape(-1), kmax


def uint8_levels(x: torch.Tensor) -> Optional[torch.Tensor]:
    """x·255 as float when every value of x is a multiple of 1/255 (a uint8 image), else None."""
    v = x * LEVELS
    r = torch.round(v)
    return r if torch.equal(v, r) else None


def poisson_levels(levels: torch.Tensor, c: float, g: Optional[torch.Generator]) -> torch.Tensor:
    """Poisson(c·v/255) for a CPU tensor of levels v in 0..255 (float, integer-valued), by inversion.

    Returns float32 counts of levels' shape; the draws are one float32 uniform per value from g.
    ``index_select`` rather than ``t[idx]``: 1–2 ns instead of 10–14 ns a random gather on CPU.
    """
    cdf32, lifted, guide, kmax = cdf_tables(float(c))
    flat = levels.reshape(-1).float()
    u = torch.rand(flat.shape, generator=g)
    cell = torch.mul(u, GUIDE).floor_().add_(flat, alpha=GUIDE).int()
    pos = guide.index_select(0, cell)  # flat index (row start + k), at most the answer
    pos.add_(torch.lt(cdf32.index_select(0, pos), u))  # one step: the answer but in crowded cells
    todo = torch.nonzero(torch.lt(cdf32.index_select(0, pos), u)).flatten()
    if todo.numel():  # the tails, ~0.1–1 %: binary search in the lifted table
        key = flat.index_select(0, todo).double().add_(u.index_select(0, todo).double())
        pos.index_copy_(0, todo, torch.searchsorted(lifted, key, out_int32=True))
    return pos.float().sub_(flat, alpha=kmax).view(levels.shape)  # k = pos − v·K (exact: < 2²⁴)
