"""Compiled pixelate (see ``_jit``): Pillow's BOX resize in its fixed-point rounding, as ``digital.pixelate``."""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from . import _filters as flt
from ._jit import as_float32, jit as _jit
from ._buffers import new_buffer


@_jit
def _pixelate_images(x, mul, lut, taps, k_w, lo_h, hi_h, k_h, src_r, src_c, out):
    """PIL BOX down (columns, then rows) and nearest-neighbour BOX up of every plane of x
    (N×C×H×W in [0, 1]; levels round(x·255) in x's type) into out (levels through lut), one
    small row at a time: no intermediate plane, every output row a copy of its source row.

    Pillow (``Resample.c``, 8 bpc) rounds each pass as (sum·K + 2^21) >> 22, K = round(2^22/m)
    for a window of m pixels; sum·K < 255·2^22 + 255·m/2 < 2^31, so int32 holds it. taps[t, j]:
    the t-th pixel of column window j, or W (the level row's zero pad) past the window's end;
    lo_h/hi_h: the row window of each small row. Indices are unsigned: numba then skips the
    negative-index wrap, and LLVM vectorises the gathers (2× faster at 224 px).
    """
    n, ch, h, w = x.shape
    n_taps, sw = taps.shape
    lv = np.zeros(w + 1, np.int32)
    col, acc = np.empty(sw, np.int32), np.empty(sw, np.int32)
    vals, row = np.empty(sw, out.dtype), np.empty(w, out.dtype)
    rnd = np.int32(1 << 21)
    for i in range(n):
        for c in range(ch):
            p, o = x[i, c], out[i, c]
            r_out = 0
            for big in range(lo_h.shape[0]):
                acc[:] = 0
                for r in range(lo_h[big], hi_h[big]):
                    pr = p[r]
                    for q in range(w):
                        lv[q] = np.int32(np.rint(pr[q] * mul))
                    t0 = taps[0]
                    for j in range(sw):
                        col[j] = lv[t0[j]]
                    for t in range(1, n_taps):
                        tt = taps[t]
                        for j in range(sw):
                            col[j] += lv[tt[j]]
                    for j in range(sw):
                        acc[j] += (col[j] * k_w[j] + rnd) >> 22
                kb = k_h[big]
                for j in range(sw):
                    vals[j] = lut[(acc[j] * kb + rnd) >> 22]
                for q in range(w):
                    row[q] = vals[src_c[q]]
                while r_out < h and src_r[r_out] == big:  # the output rows whose source is this one
                    orow = o[r_out]
                    for q in range(w):
                        orow[q] = row[q]
                    r_out += 1


@lru_cache(maxsize=64)
def _box_windows(n: int, small: int) -> tuple:
    """(lo, hi, K) of PIL's BOX n -> small windows (``_filters.box_resize_matrix``: contiguous
    0/1 rows), K = int(0.5 + 2^22/m) as Pillow makes its fixed-point weights (int32). An axis
    that keeps its size (Pillow copies it) gets one-pixel windows with K = 2^22: the same copy."""
    if small == n:
        lo = np.arange(n, dtype=np.uint32)
        return lo, lo + 1, np.full(n, 1 << 22, np.int32)
    a = flt.box_resize_matrix(n, small).numpy() > 0
    lo, hi = a.argmax(1), n - a[:, ::-1].argmax(1)
    k = np.floor(0.5 + (1.0 / (hi - lo)) * float(1 << 22)).astype(np.int32)
    return lo.astype(np.uint32), hi.astype(np.uint32), k


@lru_cache(maxsize=64)
def _box_taps(n: int, small: int) -> tuple:
    """(taps, K) of the n -> small column windows for ``_pixelate_images``: taps[t, j] = lo_j + t
    while t < m_j, else n (the zero pad)."""
    lo, hi, k = _box_windows(n, small)
    t = np.arange(int((hi - lo).max()), dtype=np.uint32)[:, None]
    return np.where(lo + t < hi, lo + t, np.uint32(n)).astype(np.uint32), k


@lru_cache(maxsize=64)
def _box_sources(small: int, n: int) -> np.ndarray:
    """The source of each of n outputs of PIL's BOX upscale small -> n (nearest neighbour:
    non-decreasing, every source picked at least once)."""
    if small == n:
        return np.arange(n, dtype=np.uint32)
    return flt.box_resize_matrix(small, n).argmax(1).numpy().astype(np.uint32)


def pixelate(x: torch.Tensor, sh: int, sw: int, lut: torch.Tensor) -> torch.Tensor:
    """``digital.pixelate`` on a CPU batch by the compiled kernel: BOX to sh×sw and back, the
    output levels mapped through lut (256 values of x's type, as the torch path divides; float64
    batches get their levels from the kernel and the lookup from torch)."""
    n, ch, h, w = x.shape
    v, mul = as_float32(x, lambda t: torch.mul(t, 255).round_())
    out = new_buffer(x.shape, x, torch.float32)
    levels = lut.to(torch.float32) if x.dtype == torch.float32 else torch.arange(256, dtype=torch.float32)
    _pixelate_images(v, mul, levels.numpy(), *_box_taps(w, sw), *_box_windows(h, sh), _box_sources(sh, h),
                     _box_sources(sw, w), out.numpy())
    return out if x.dtype == torch.float32 else lut[out.long()]
