"""Compiled pixelate (see ``_jit``): Pillow's BOX resize in its fixed-point rounding, as ``digital.pixelate``."""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from . import _filters as flt
from ._jit import as_float32, jit as _jit


@_jit
def _box_pass_rows(src, lo, hi, k, dst):
    """Pillow's BOX reduction along the rows of src (R×n ints) into dst (R×len(lo)): window sums
    of src[lo_j:hi_j] times K_j = round(2^22/m_j), + 2^21, >> 22 (``Resample.c``, 8 bpc). The
    sums are differences of the row's prefix sums: no inner loop of irregular length (1.6× faster
    at 224 px; prefix sums of 8 rows at once, for 8 independent add chains, were slower)."""
    cs = np.zeros(src.shape[1] + 1, np.int64)
    for r in range(src.shape[0]):
        s, d = src[r], dst[r]
        for i in range(s.shape[0]):
            cs[i + 1] = cs[i] + s[i]
        for j in range(lo.shape[0]):
            d[j] = ((cs[hi[j]] - cs[lo[j]]) * k[j] + (1 << 21)) >> 22


@_jit
def _box_pass_cols(src, lo, hi, k, dst):
    """The same along the columns: dst[j] from the rows src[lo_j:hi_j] (whole-row adds)."""
    w = src.shape[1]
    acc = np.empty(w, np.int32)
    for j in range(lo.shape[0]):
        acc[:] = 0
        for i in range(lo[j], hi[j]):
            row = src[i]
            for c in range(w):
                acc[c] += row[c]
        d, kj = dst[j], k[j]
        for c in range(w):
            d[c] = (acc[c] * kj + (1 << 21)) >> 22


@_jit
def _pixelate_images(x, mul, lut, wins_w, wins_h, src_r, src_c, out):
    """PIL BOX down (columns, then rows) and nearest-neighbour BOX up of every plane of x
    (N×C×H×W in [0, 1]; levels round(x·255) in x's type) into out (levels through lut).
    wins_*: (lo, hi, K) of each axis or empty for an axis that keeps its size; src_*: the source
    row / column of each output row / column of the upscale."""
    n, ch, h, w = x.shape
    lw, lh = wins_w[0], wins_h[0]
    sw = lw.shape[0] if lw.shape[0] else w
    sh = lh.shape[0] if lh.shape[0] else h
    lv = np.empty((h, w), np.int32)  # 8-bit levels and sums: int32 halves the memory traffic
    mid = np.empty((h, sw), np.int32)
    small = np.empty((sh, sw), np.int32)
    row, vals = np.empty(w, out.dtype), np.empty(sw, out.dtype)
    for i in range(n):
        for c in range(ch):
            p = x[i, c]
            for r in range(h):
                pr, lr = p[r], lv[r]
                for q in range(w):
                    lr[q] = np.int32(np.rint(pr[q] * mul))
            if lw.shape[0]:
                _box_pass_rows(lv, lw, wins_w[1], wins_w[2], mid)
            else:
                mid[:, :] = lv
            if lh.shape[0]:
                _box_pass_cols(mid, lh, wins_h[1], wins_h[2], small)
            else:
                small[:, :] = mid
            o = out[i, c]
            for r in range(h):
                if r == 0 or src_r[r] != src_r[r - 1]:  # a new source row (most output rows repeat one)
                    sr = small[src_r[r]]
                    for q in range(sw):
                        vals[q] = lut[sr[q]]
                    for q in range(w):
                        row[q] = vals[src_c[q]]
                orow = o[r]
                for q in range(w):
                    orow[q] = row[q]


@lru_cache(maxsize=64)
def _box_windows(n: int, small: int) -> tuple:
    """(lo, hi, K) int64 arrays of PIL's BOX n -> small windows (``_filters.box_resize_matrix``:
    contiguous 0/1 rows), K = int(0.5 + 2^22/m) as Pillow makes its fixed-point weights; empty
    arrays when the axis keeps its size (Pillow copies it)."""
    if small == n:
        e = np.empty(0, np.int64)
        return e, e, e
    a = flt.box_resize_matrix(n, small).numpy() > 0
    lo, hi = a.argmax(1), n - a[:, ::-1].argmax(1)
    k = np.floor(0.5 + (1.0 / (hi - lo)) * float(1 << 22)).astype(np.int64)
    return lo.astype(np.int64), hi.astype(np.int64), k


@lru_cache(maxsize=64)
def _box_sources(small: int, n: int) -> np.ndarray:
    """The source of each of n outputs of PIL's BOX upscale small -> n (nearest neighbour)."""
    if small == n:
        return np.arange(n, dtype=np.int64)
    return flt.box_resize_matrix(small, n).argmax(1).numpy().astype(np.int64)


def pixelate(x: torch.Tensor, sh: int, sw: int, lut: torch.Tensor) -> torch.Tensor:
    """``digital.pixelate`` on a CPU batch by the compiled kernel: BOX to sh×sw and back, the
    output levels mapped through lut (256 values of x's type, as the torch path divides; float64
    batches get their levels from the kernel and the lookup from torch)."""
    n, ch, h, w = x.shape
    v, mul = as_float32(x, lambda t: torch.mul(t, 255).round_())
    out = torch.empty(x.shape, dtype=torch.float32)
    levels = lut.to(torch.float32) if x.dtype == torch.float32 else torch.arange(256, dtype=torch.float32)
    _pixelate_images(v, mul, levels.numpy(), _box_windows(w, sw), _box_windows(h, sh), _box_sources(sh, h),
                     _box_sources(sw, w), out.numpy())
    return out if x.dtype == torch.float32 else lut[out.long()]
