"""Compiled needle layer of ``textures.frost_texture`` (see ``_jit``): the seeds and their three
streaked lines of ``textures._needles`` from the same draws, the same sums in the same order
(tested equal), touching only the seeds (2.5 % of the pixels) instead of every pixel per tap."""
from __future__ import annotations

import numpy as np
from numba import types
from numba.extending import intrinsic

from ._jit import jit as _jit


@intrinsic
def _fma(typingctx, a, b, c):
    """a·b + c rounded once: torch's vectorized ``add_(src, alpha=w)`` is ``fmadd(src, w, acc)``,
    and LLVM does not fuse a plain a * b + c by itself."""
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
