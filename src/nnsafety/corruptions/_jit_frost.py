"""Compiled steps of frost (see ``_jit``), the same operations as the torch path (tested equal):
the needle layer of ``textures.frost_pattern`` (the seeds and their three streaked lines of
``textures._needles`` from the same draws, the same sums in the same order, touching only the
seeds, 2.5 % of the pixels, instead of every pixel per tap), the sum of its layers, and the
colour and blend of ``weather.frost`` (five batch-wide passes in one)."""
from __future__ import annotations

import numpy as np
import torch
from numba import types
from numba.extending import intrinsic

from ._buffers import new_buffer
from ._jit import jit as _jit


@intrinsic
def _fma(typingctx, a, b, c):
    """a·b + c rounded once: torch's ``add_(src, alpha=w)`` is ``fmadd(src, w, acc)`` and its
    ``addcmul`` fuses too (checked on every element, tails included, by the tests against the
    torch path), and LLVM does not fuse a plain a * b + c by itself."""
    if not (isinstance(a, types.Float) and a == b == c):
        return None

    def codegen(context, builder, signature, args):
        return builder.fma(*args)
    return a(a, b, c), codegen


@_jit
def needles(hit_u, val_u, thr, half, wts, oy, ox, out):
    """out[b] = max over the directions a of Σ_t wts[t]·seed[b, y + oy[a, t], x + ox[a, t]]
    (zero outside the image) with seed = (val_u + half)·(hit_u < thr), as ``textures._needles``
    on ``frost_texture``'s seeds: the first tap a product, every later one an fma into the sum
    (torch's mul, then add_ with alpha), so each pixel gets the same sum of its non-zero terms in
    tap order (a zero seed's fma adds +0 to a sum >= 0: nothing). Each seed is added to the
    pixels it reaches, tap by tap, in a line buffer with an r-pixel margin (r: the longest
    offset) so that no write needs a bounds test; the margin is never read. hit_u, val_u, out:
    N×H×W of one float dtype; thr, half: scalars of that dtype; wts (K,) of that dtype; oy, ox
    (A×K) int64."""
    n, h, w = out.shape
    na, k = oy.shape
    r = max(np.abs(oy).max(), np.abs(ox).max())
    s = w + 2 * r  # the line buffer's row stride
    line = np.empty((h + 2 * r) * s, out.dtype)
    at = np.empty(h * w, np.int64)  # the seeds' flat positions in the line buffer
    vs = np.empty(h * w, out.dtype)
    for b in range(n):
        cnt = 0
        for y in range(h):
            for x in range(w):
                if hit_u[b, y, x] < thr:
                    at[cnt], vs[cnt] = (y + r) * s + x + r, val_u[b, y, x] + half
                    cnt += 1
        ob = out[b]
        for a in range(na):
            line[:] = 0
            for t in range(k):
                off, wt = oy[a, t] * s + ox[a, t], wts[t]
                for i in range(cnt):
                    j = at[i] - off
                    line[j] = _fma(vs[i], wt, line[j])
            for y in range(h):
                row = line[(y + r) * s + r:(y + r) * s + r + w]
                if a == 0:
                    ob[y, :] = row
                else:
                    for x in range(w):
                        ob[y, x] = max(ob[y, x], row[x])


@_jit
def pattern(da, sa, db, sb, z, wa, wz, out):
    """out = (da / sa·wa + db / sb) + z·wz per N×H×W map (sa, sb: N; wa, wz: scalars; all of one
    dtype), as ``textures.frost_pattern``'s torch path sums the standardized plasma (times wa),
    the standardized needles and the grain (z times wz): the same operations, one pass."""
    n, h, w = out.shape
    for b in range(n):
        ra, rb = sa[b], sb[b]
        for y in range(h):
            ar, br, zr, orow = da[b, y], db[b, y], z[b, y], out[b, y]
            for i in range(w):
                orow[i] = (ar[i] / ra * wa + br[i] / rb) + zr[i] * wz


@_jit
def _blend(x, d, s, mean, std, c0, c1, out):
    """out[b, c] = clamp(x[b, c]·c0 + clamp(mean[b, c] + std[b]·d[b] / s[b], 0, 1)·c1, 0, 1) in x's
    dtype, as ``weather.frost`` on ``frost_texture`` computes it: the division, ``addcmul`` (one
    fma), clamp, ``mul_(c1)``, ``add_(x, alpha=c0)`` (one fma), clamp. x, out: N×3×H×W; d: N×H×W;
    s: N; mean: N×3; std: N; c0, c1 scalars of x's dtype."""
    n, ch, h, w = x.shape
    lim = np.zeros(2, x.dtype)
    lim[1] = 1
    lo, hi = lim[0], lim[1]
    p = np.empty(w, x.dtype)  # one row of the standardized pattern, shared by the channels
    for b in range(n):
        sb, sd = s[b], std[b]
        for y in range(h):
            dr = d[b, y]
            for i in range(w):
                p[i] = dr[i] / sb
            for c in range(ch):
                m, xr, orow = mean[b, c], x[b, c, y], out[b, c, y]
                for i in range(w):
                    t = min(max(_fma(sd, p[i], m), lo), hi) * c1
                    orow[i] = min(max(_fma(xr[i], c0, t), lo), hi)


def blend(x: torch.Tensor, d: torch.Tensor, s: torch.Tensor, mean: torch.Tensor, std: torch.Tensor,
          c0: float, c1: float) -> torch.Tensor:
    """``weather.frost``'s c0·x + c1·texture, clamped, on an RGB batch x by ``_blend``."""
    out = new_buffer(x.shape, x)
    scalar = np.float32 if x.dtype == torch.float32 else np.float64
    _blend(x.detach().contiguous().numpy(), d.contiguous().numpy(), s.reshape(-1).contiguous().numpy(),
           mean.contiguous().numpy(), std.contiguous().numpy(), scalar(c0), scalar(c1), out.numpy())
    return out
