"""Compiled steps of ``textures.plasma_fractal`` (see ``_jit``): a diamond-square level, and the
final scaling with the crop and cast. The same float64 operations in the same order on the same
draws, one pass per level instead of ~15 strided torch ops, one pass for the scaling instead of
four (tested equal)."""
from __future__ import annotations

import numpy as np

from ._jit import jit as _jit


@_jit
def plasma_level(m, step, wibble, d_sq, d_row, d_col):
    """One level of ``plasma_fractal`` on the N×S×S maps m in place: the square step writes the
    centres (i·step + half, j·step + half), then the two diamond steps the edge midpoints (rows
    i·step, columns j·step), each mean·¼ + (draw·2w − w)·w with the torch path's draws d_*
    (float32, N×k×k, in its order) and its additions' order; indices wrap around (k is a power
    of 2: ``& (k − 1)`` is the modulo, also of −1, without its division)."""
    n, size = m.shape[0], m.shape[1]
    k, half = size // step, step // 2
    for b in range(n):
        mb = m[b]
        for i in range(k):
            i1 = ((i + 1) & (k - 1)) * step
            for j in range(k):
                j1 = ((j + 1) & (k - 1)) * step
                a = (mb[i * step, j * step] + mb[i1, j * step]) + (mb[i * step, j1] + mb[i1, j1])
                u = ((float(d_sq[b, i, j]) * (2 * wibble)) + (-wibble)) * wibble
                mb[i * step + half, j * step + half] = u + 0.25 * a
        for i in range(k):
            ip = ((i - 1) & (k - 1)) * step + half
            for j in range(k):
                jp = ((j - 1) & (k - 1)) * step + half
                d = mb[i * step + half, j * step + half]
                c00, c01 = mb[i * step, j * step], mb[i * step, ((j + 1) & (k - 1)) * step]
                c10 = mb[((i + 1) & (k - 1)) * step, j * step]
                # the edge midpoints are not read by either diamond step: write them at once
                a = ((d + mb[ip, j * step + half]) + c00) + c01
                u = ((float(d_row[b, i, j]) * (2 * wibble)) + (-wibble)) * wibble
                mb[i * step, j * step + half] = u + 0.25 * a
                a = ((d + mb[i * step + half, jp]) + c00) + c10
                u = ((float(d_col[b, i, j]) * (2 * wibble)) + (-wibble)) * wibble
                mb[i * step + half, j * step] = u + 0.25 * a


@_jit
def plasma_scale(m, out):
    """``plasma_fractal``'s (m − min)/max(max − min, 1e-12) per N×S×S float64 map, written to the
    top-left of out (N×h×w, any float dtype; out may be m): the same float64 operations (the max
    of the differences is the difference of the max, rounding being monotonic), then the cast.
    The extremes are kept per column and reduced at the end (exact in any order): one running
    pair would chain every compare to the last."""
    n, h, w = out.shape
    size = m.shape[2]
    in_place = out.ctypes.data == m.ctypes.data
    lo_c, hi_c = np.empty(size, m.dtype), np.empty(size, m.dtype)
    for b in range(n):
        mb = m[b]
        lo_c[:] = mb[0]
        hi_c[:] = mb[0]
        for y in range(1, m.shape[1]):
            r = mb[y]
            for x in range(size):
                v = r[x]
                lo_c[x] = v if v < lo_c[x] else lo_c[x]
                hi_c[x] = v if v > hi_c[x] else hi_c[x]
        lo, hi = lo_c.min(), hi_c.max()
        scale = max(hi - lo, 1e-12)
        if in_place:  # through one array: LLVM's overlap test would make the loop scalar
            for y in range(h):
                r = mb[y]
                for x in range(w):
                    r[x] = (r[x] - lo) / scale
        else:
            for y in range(h):
                r, o = mb[y], out[b, y]
                for x in range(w):
                    o[x] = (r[x] - lo) / scale
