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
FLAG = 1 << 30  # marks a crowded guide cell (indices stay below 2²⁰)
BLOCK = 16  # values per block in the search for crowded cells
CHUNK = 1 << 16  # values per chunk: the chunk's temporaries stay in the allocator's free lists


@lru_cache(maxsize=32)
def _cdf64(c: float) -> Tuple[torch.Tensor, int]:
    """F_v(k) = P(Poisson(c·v/255) <= k) in float64, 256 rows × K, and K."""
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
    return cdf, kmax


@lru_cache(maxsize=32)
def cdf_tables(c: float) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """Tables for the rates c·v/255, v = 0..255, each row K long (flat, row-major):
    ``cdf32`` (F_v(k) in float32, what the per-value step compares with), ``lifted`` (v + F_v(k)
    in float64: increasing over the whole flat table, so one ``searchsorted`` finds any row's
    inverse), ``guide`` (256·G flat indices of the smallest k with F_v(k) >= j/G) and K."""
    cdf, kmax = _cdf64(c)
    cells = torch.arange(GUIDE, dtype=torch.float64) / GUIDE
    start = torch.searchsorted(cdf, cells.expand(LEVELS + 1, GUIDE).contiguous())
    rows = torch.arange(LEVELS + 1).unsqueeze(1)
    guide = (start + rows * kmax).int()  # int32 indices: half the memory traffic of int64
    lifted = cdf + rows.double()
    return cdf.float().reshape(-1), lifted.reshape(-1), guide.reshape(-1), kmax


@lru_cache(maxsize=32)
def flagged_guide(c: float) -> torch.Tensor:
    """``guide`` with bit 30 set on the crowded cells: those where one step may not reach the
    answer. A cell [j/G, (j+1)/G) whose start k has F(k + 1) >= (j+1)/G (or k = K − 1) holds at
    most one CDF point, so start + [F32(start) < u] is the exact inverse for every u in it (F32
    rounds monotonically and (j+1)/G is a float32); only flagged cells need the check."""
    cdf, kmax = _cdf64(c)
    _, _, guide, _ = cdf_tables(c)
    start = guide.long().view(LEVELS + 1, GUIDE) - torch.arange(LEVELS + 1).unsqueeze(1) * kmax
    nxt = cdf.gather(1, (start + 1).clamp_(max=kmax - 1))
    upper = torch.arange(1, GUIDE + 1, dtype=torch.float64) / GUIDE
    easy = (start == kmax - 1) | (nxt >= upper)
    return (guide.view(LEVELS + 1, GUIDE) | (~easy).int() * FLAG).reshape(-1)


def uint8_levels(x: torch.Tensor) -> Optional[torch.Tensor]:
    """x·255 as float when every value of x is a multiple of 1/255 (a uint8 image), else None.

    Checked chunk by chunk into one output buffer: no batch-sized temporaries (fresh pages cost
    more than the arithmetic on a shared machine)."""
    flat = x.reshape(-1)
    out = torch.empty(flat.shape, dtype=x.dtype, device=x.device)
    for i in range(0, flat.numel(), CHUNK):
        v = torch.mul(flat[i:i + CHUNK], LEVELS, out=out[i:i + CHUNK])
        r = torch.round(v)
        if not torch.equal(v, r):
            return None
        v.copy_(r)
    return out.view(x.shape)


def poisson_levels(levels: torch.Tensor, c: float, g: Optional[torch.Generator],
                   out: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Poisson(c·v/255) for a CPU tensor of levels v in 0..255 (float, integer-valued), by inversion.

    Returns float32 counts of levels' shape (written into ``out``, which may be ``levels``
    itself when that is float32); the draws are one float32 uniform per value from g, drawn
    chunk by chunk (the same stream as one draw for the whole batch), so the temporaries of a
    chunk are reused from the allocator's free lists instead of touching fresh pages.
    """
    cdf32, lifted, _, kmax = cdf_tables(float(c))
    guide = flagged_guide(float(c))
    flat = levels.reshape(-1).float()
    if out is None:
        out = torch.empty(flat.shape)
    res = out.view(-1)
    for i in range(0, flat.numel(), CHUNK):
        _sample_chunk(flat[i:i + CHUNK], res[i:i + CHUNK], cdf32, lifted, guide, kmax, g)
    return out.view(levels.shape)


def _sample_chunk(flat, res, cdf32, lifted, guide, kmax: int, g) -> None:
    """Inversion for one chunk of levels into ``res`` (may alias ``flat``: read before written).

    ``index_select`` rather than ``t[idx]``: 1–2 ns instead of 10–14 ns a random gather on CPU.
    Values in blocks holding a crowded cell (a few % of the blocks) get the check after the step
    (a second gather); everything else is exact after one step (see ``flagged_guide``).
    """
    u = torch.rand(flat.shape, generator=g)
    buf = torch.mul(u, GUIDE).floor_().add_(flat, alpha=GUIDE)
    pos = guide.index_select(0, buf.int())  # flat index (row start + k), at most the answer
    # "blocks" are the BLOCK values i, i + q, i + 2q, ... (q = len / BLOCK): their max is an
    # elementwise max of BLOCK contiguous rows, much cheaper than a max over short inner rows
    q = pos.numel() // BLOCK
    m = q * BLOCK
    check = torch.arange(0)
    if q:
        blocks = torch.nonzero(pos[:m].view(BLOCK, q).amax(0) >= FLAG).view(1, -1)
        check = torch.add(blocks, torch.arange(0, m, q).view(-1, 1)).view(-1)
    if m < pos.numel():  # the values past the last full row: always checked
        check = torch.cat([check, torch.arange(m, pos.numel())])
    pos.bitwise_and_(FLAG - 1)
    pos += torch.lt(torch.index_select(cdf32, 0, pos, out=buf), u, out=torch.empty_like(pos))
    if check.numel():  # the tails: binary search where one step was not enough
        todo = check[torch.lt(cdf32.index_select(0, pos.index_select(0, check)), u.index_select(0, check))]
        if todo.numel():
            key = flat.index_select(0, todo).double().add_(u.index_select(0, todo).double())
            pos.index_copy_(0, todo, torch.searchsorted(lifted, key, out_int32=True))
    torch.sub(pos, flat, alpha=kmax, out=res)  # k = pos − v·K (exact: < 2²⁴)
