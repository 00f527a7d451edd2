"""Compiled pixelate (see ``_jit``): Pillow's BOX resize in its fixed-point rounding, as ``digital.pixelate``."""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from .._validation import check_images
from . import _filters as flt
from ._jit import as_float32, jit as _jit
from ._buffers import new_buffer

# Pixels per block of rows that the horizontal pass handles in flat loops: a 32-px plane at once
# (short rows would pay the loop overhead per row), two rows at 224 px (the block stays in L1)
_BLOCK = 512


@_jit
def _pixelate_images(x, mul, lim, scale, div, m0, n_s, rows_b, pick, k_w, lo_h, hi_h, k_h, src_r, src_c, out):
    """PIL BOX down (columns, then rows) and nearest-neighbour BOX up of every plane of x
    (N×C×H×W; levels round(x·mul) in x's type) into out (level·scale/div); returns whether some
    value of x is outside [0, lim] or NaN (the caller's range check, folded into the one read).

    Pillow (``Resample.c``, 8 bpc) rounds each pass as (sum·K + 2^21) >> 22, K = round(2^22/m)
    for a window of m pixels; sum·K < 255·2^22 + 255·m/2 < 2^31, so int32 holds it. The column
    windows have m0 .. m0 + n_s - 1 pixels (m0 or m0 + 1 for BOX), so for a block of rows_b rows,
    flat, s[k] holds the sum of m0 + k pixels at every start (whole-vector adds; the sums across
    a row's end are never read) and pick[r·sw + j] is where window j of block row r sits in s:
    the only gather is one load per window, and the rounding (k_w per pick) vectorises.
    The rows' sums go to hh (H×sw), then each small row sums its rows' window of hh and writes
    its first output row; the rows that repeat it (BOX upscale: nearest neighbour) are copies.
    Indices are unsigned or offset views: numba then skips the negative-index wrap, which would
    keep LLVM from vectorising (it emits gathers).
    """
    n, ch, h, w = x.shape
    sw = pick.shape[0] // rows_b
    fb = rows_b * w
    xf = x.reshape(n * ch, h * w)
    of = out.reshape(n * ch, h, w)
    lv = np.zeros(fb + m0 + n_s, np.int32)
    s = np.empty(n_s * fb, np.int32)
    col = np.empty(rows_b * sw, np.int32)
    hh = np.empty(h * sw, np.int32)
    acc = np.empty(sw, np.int32)
    vals = np.empty(sw, out.dtype)
    rnd = np.int64(1 << 21)
    bad = False
    for pl in range(n * ch):
        xp, o = xf[pl], of[pl]
        for r0 in range(0, h, rows_b):
            nf = min(rows_b, h - r0) * w
            xb = xp[r0 * w:r0 * w + nf]
            for f in range(nf):
                v = xb[f]
                bad |= not (v >= 0 and v <= lim)
                lv[f] = np.int32(np.rint(v * mul))
            for f in range(nf):
                s[f] = lv[f]
            for t in range(1, m0):
                lt = lv[t:]
                for f in range(nf):
                    s[f] += lt[f]
            for k in range(1, n_s):
                prev, cur, lt = s[(k - 1) * fb:], s[k * fb:], lv[m0 + k - 1:]
                for f in range(nf):
                    cur[f] = prev[f] + lt[f]
            nc = nf // w * sw
            for f in range(nc):
                col[f] = s[pick[f]]
            hb = hh[r0 * sw:r0 * sw + nc]
            for f in range(nc):
                hb[f] = (col[f] * k_w[f] + rnd) >> 22
        r_out = 0
        for big in range(lo_h.shape[0]):
            acc[:] = 0
            for r in range(lo_h[big], hi_h[big]):
                hr = hh[r * sw:(r + 1) * sw]
                for j in range(sw):
                    acc[j] += hr[j]
            kb = k_h[big]
            for j in range(sw):
                vals[j] = np.float32((acc[j] * kb + rnd) >> 22) * scale / div
            orow = o[r_out]
            for q in range(w):
                orow[q] = vals[src_c[q]]
            r_out += 1
            while r_out < h and src_r[r_out] == big:
                dst = o[r_out]
                for q in range(w):
                    dst[q] = orow[q]
                r_out += 1
    return bad


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
def _box_columns(h: int, w: int, sw: int) -> tuple:
    """(m0, n_s, rows_b, pick, K) of the w -> sw column windows for ``_pixelate_images``: the
    smallest window m0 and the n_s sizes from it, rows_b = max(1, min(h, _BLOCK // w)) rows per
    block, where each window of each block row sits in the block's sums and its K per pick."""
    lo, hi, k = _box_windows(w, sw)
    m = (hi - lo).astype(np.int64)
    m0, rows_b = int(m.min()), max(1, min(h, _BLOCK // w))
    fb = rows_b * w
    pick = (m - m0) * fb + lo + w * np.arange(rows_b)[:, None]
    return m0, int(m.max()) - m0 + 1, rows_b, pick.astype(np.uint32).ravel(), np.tile(k, rows_b)


@lru_cache(maxsize=64)
def _box_sources(small: int, n: int) -> np.ndarray:
    """The source of each of n outputs of PIL's BOX upscale small -> n (nearest neighbour:
    non-decreasing, every source picked at least once)."""
    if small == n:
        return np.arange(n, dtype=np.uint32)
    return flt.box_resize_matrix(small, n).argmax(1).numpy().astype(np.uint32)


# level/255 as ``digital._unit_levels`` computes it in float32: times 1/255 or divided by 255
_INV_255 = np.float32(1) / np.float32(255)


def pixelate(x: torch.Tensor, sh: int, sw: int, by_product: bool, lut: torch.Tensor) -> torch.Tensor:
    """``digital.pixelate`` on a CPU batch by the compiled kernel: BOX to sh×sw and back. A
    float32 batch gets level·(1/255) (``by_product``) or level/255 from the kernel, the values of
    lut, and its [0, 1] check there (the same error as ``check_images``, which ``corrupt`` leaves
    to pixelate); a float64 one is checked first, its levels come from the kernel and the lookup
    in lut (256 values of x's type) from torch."""
    n, ch, h, w = x.shape
    f32 = x.dtype == torch.float32
    if not f32:  # the kernel sees levels, not x
        check_images(x, allow_2d=False)
    v, mul = as_float32(x, lambda t: torch.mul(t, 255).round_().contiguous())
    out = new_buffer(x.shape, x, torch.float32)
    scale, div = ((_INV_255, np.float32(1)) if by_product else (np.float32(1), np.float32(255))) if f32 \
        else (np.float32(1), np.float32(1))
    bad = _pixelate_images(v, mul, np.float32(1 if f32 else 255), scale, div, *_box_columns(h, w, sw),
                           *_box_windows(h, sh), _box_sources(sh, h), _box_sources(sw, w), out.numpy())
    if bad:
        check_images(x, allow_2d=False)  # raises: some value is outside [0, 1] or NaN
    return out if f32 else lut[out.long()]
