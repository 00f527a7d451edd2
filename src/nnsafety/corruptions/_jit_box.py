"""Compiled pixelate (see ``_jit``): Pillow's BOX resize in its fixed-point rounding, as ``digital.pixelate``."""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from .._validation import check_images
from . import _filters as flt
from ._jit import as_float32, jit as _jit
from ._buffers import new_buffer

# Pixels per block of rows that the column pass handles in flat loops: a 32-px plane at once
# (short rows would pay the loop overhead per row), four rows at 224 px (the block stays in L1)
_BLOCK = 1024
_F32_ONE, _F32_255 = np.float32(1), np.float32(255)
# Outputs from this size on are written by non-temporal stores (``_stream16``); a smaller one
# can stay in the cache from call to call, where plain stores did as well or better (measured:
# docs/benchmarks.md, issue 22's pixelate section)
_STREAM_BYTES = 4 << 20


@intrinsic
def _stream16(typingctx, dst, i, src, j):
    """dst[i:i + 16] = src[j:j + 16] (float32) by one non-temporal store; dst + i must be
    64-byte aligned. The batch-sized output is not read back here: a plain store first reads
    each line from memory (a third of pixelate's traffic at 224 px) and evicts x from the cache."""
    def codegen(context, builder, signature, args):
        d, s = (context.make_array(t)(context, builder, a) for t, a in zip(signature.args[::2], args[::2]))
        vec = ir.VectorType(ir.FloatType(), 16).as_pointer()
        value = builder.load(builder.bitcast(builder.gep(s.data, [args[3]]), vec), align=4)
        store = builder.store(value, builder.bitcast(builder.gep(d.data, [args[1]]), vec), align=64)
        store.set_metadata("nontemporal", builder.module.add_metadata([ir.IntType(32)(1)]))
        return context.get_dummy_value()
    return types.void(dst, types.intp, src, types.intp), codegen


@intrinsic
def _store_fence(typingctx):
    """A full fence: the non-temporal stores are weakly ordered, so they complete before return."""
    def codegen(context, builder, signature, args):
        builder.fence("seq_cst")
        return context.get_dummy_value()
    return types.void(), codegen


@_jit
def _pixelate_images(x, mul, lim, by_product, div, m_max, rows_b, pick, k_w, lo_h, hi_h, k_v, src_r, src_c, out,
                     stream, s):
    """PIL BOX down (columns, then rows) and nearest-neighbour BOX up of every plane of x
    (N×C×H×W; levels round(x·mul) in x's type) into out (level·(1/div) if by_product, else
    level/div); returns whether some value of x is outside [0, lim] or NaN (the caller's range
    check, folded into the kernel's one read of x).

    Pillow (``Resample.c``, 8 bpc) rounds each pass as (sum·K + 2^21) >> 22, K = round(2^22/m)
    for a window of m pixels; sum·K < 255·2^22 + 255·m/2 < 2^31, so int32 holds it.
    Columns, for a block of rows_b rows at once (flat, whole-vector loops): segment k of s holds
    the sum of k + 1 levels at every start (segment 0 the levels; sums across a row's end are
    never read), pick[r·sw + j] is where window j of block row r sits in s (the one gather: a
    load per window) and k_w its K; the rounded sums go to hh (H×sw). s (m_max·fs zeros) is
    int16 where the sums fit (half the bytes of the two whole-vector passes), else int32.
    Rows: each small row i sums its window of hh rows into v[i] (sh×sw), rounded flat with k_v.
    Output: each small row's output row by a gather, written to every row that repeats it (BOX
    upscale: nearest neighbour); with ``stream`` (rows of 16k floats, 64-byte aligned) by
    non-temporal stores, which skip reading each output line before writing it.
    Indices are unsigned or offset views: numba then skips the negative-index wrap, which would
    keep LLVM from vectorising (it emits gathers).
    """
    n, ch, h, w = x.shape
    sh = lo_h.shape[0]
    sw = pick.shape[0] // rows_b
    fb = rows_b * w
    fs = fb + m_max  # segment stride: segment k - 1 + its reads past the block never reach k
    xf = x.reshape(n * ch, h * w)
    of = out.reshape(n * ch, h, w)
    col = np.empty(rows_b * sw, np.int32)
    hh = np.empty(h * sw, np.int32)
    v = np.empty(sh * sw, np.int32)
    vals = np.empty(sh * sw, out.dtype)
    row = np.empty(w, out.dtype)
    inv = np.float32(1) / div
    rnd, shift = np.int32(1 << 21), np.int32(22)
    bad = False
    for pl in range(n * ch):
        xp, o = xf[pl], of[pl]
        for r0 in range(0, h, rows_b):
            nf = min(rows_b, h - r0) * w
            xb = xp[r0 * w:r0 * w + nf]
            for f in range(nf):
                a = xb[f]
                bad |= not (a >= 0 and a <= lim)
                s[f] = np.int32(np.rint(a * mul))
            for k in range(1, m_max):
                prev, cur, lk = s[(k - 1) * fs:], s[k * fs:], s[k:]
                for f in range(nf):
                    cur[f] = prev[f] + lk[f]
            nc = nf // w * sw
            for f in range(nc):
                col[f] = s[pick[f]]
            hb = hh[r0 * sw:r0 * sw + nc]
            for f in range(nc):  # in int32 (sum·K < 2^31): 16 lanes where int64 gets 8
                hb[f] = np.int32(np.int32(col[f] * k_w[f]) + rnd) >> shift
        for i in range(sh):
            vi, lo = v[i * sw:(i + 1) * sw], lo_h[i]
            h0 = hh[lo * sw:]
            for j in range(sw):
                vi[j] = h0[j]
            for r in range(lo + 1, hi_h[i]):
                hr = hh[r * sw:]
                for j in range(sw):
                    vi[j] += hr[j]
        if by_product:
            for f in range(sh * sw):
                vals[f] = np.float32(np.int32(np.int32(v[f] * k_v[f]) + rnd) >> shift) * inv
        else:
            for f in range(sh * sw):
                vals[f] = np.float32(np.int32(np.int32(v[f] * k_v[f]) + rnd) >> shift) / div
        r_out = 0
        for i in range(sh):
            vi, orow = vals[i * sw:], row if stream else o[r_out]
            for q in range(w):
                orow[q] = vi[src_c[q]]
            r_out += 0 if stream else 1
            while r_out < h and src_r[r_out] == i:
                dst = o[r_out]
                if stream:
                    for q in range(0, w, 16):
                        _stream16(dst, q, row, q)
                else:
                    for q in range(w):
                        dst[q] = orow[q]
                r_out += 1
    _store_fence()
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
def _geometry(h: int, w: int, sh: int, sw: int) -> tuple:
    """The arguments of ``_pixelate_images`` that describe the resize h×w -> sh×sw -> h×w:
    m_max (the widest column window), rows_b = max(1, min(h, _BLOCK // w)) rows per block,
    pick and k_w per window of each block row, the row windows (lo, hi) with k_v per small
    pixel, and the sources of the upscale's rows and columns."""
    lo, hi, k = _box_windows(w, sw)
    m_max, rows_b = int((hi - lo).max()), max(1, min(h, _BLOCK // w))
    pick = (hi - lo - 1).astype(np.int64) * (rows_b * w + m_max) + lo + w * np.arange(rows_b)[:, None]
    lo_h, hi_h, k_h = _box_windows(h, sh)
    return (m_max, rows_b, pick.astype(np.uint32).ravel(), np.tile(k, rows_b), lo_h, hi_h,
            np.repeat(k_h, sw), _box_sources(sh, h), _box_sources(sw, w))


@lru_cache(maxsize=64)
def _box_sources(small: int, n: int) -> np.ndarray:
    """The source of each of n outputs of PIL's BOX upscale small -> n (nearest neighbour:
    non-decreasing, every source picked at least once)."""
    if small == n:
        return np.arange(n, dtype=np.uint32)
    return flt.box_resize_matrix(small, n).argmax(1).numpy().astype(np.uint32)


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
    geometry = _geometry(h, w, sh, sw)
    m_max, rows_b = geometry[:2]  # the window sums: int16 while 255 × the widest window fits
    sums = np.zeros(m_max * (rows_b * w + m_max), np.int16 if 255 * m_max < 1 << 15 else np.int32)
    bad = _pixelate_images(v, mul, _F32_ONE if f32 else _F32_255, f32 and by_product, _F32_255 if f32 else _F32_ONE,
                           *geometry, out.numpy(),
                           w % 16 == 0 and out.data_ptr() % 64 == 0 and 4 * out.numel() >= _STREAM_BYTES, sums)
    if bad:
        check_images(x, allow_2d=False)  # raises: some value is outside [0, 1] or NaN
    return out if f32 else lut[out.long()]
