"""Compiled JPEG round trip (see ``_jit``): libjpeg-turbo's integer arithmetic, as ``jpeg.py``."""
from __future__ import annotations

import numpy as np
import torch

from ._jit import as_float32, jit as _jit
from ._buffers import new_buffer


# jfdctint.c / jidctint.c constants: FIX(c) = round(c·2^13)
CB, P1 = 13, 2
F0298, F0390, F0541, F0765 = 2446, 3196, 4433, 6270
F0899, F1175, F1501, F1847 = 7373, 9633, 12299, 15137
F1961, F2053, F2562, F3072 = 16069, 16819, 20995, 25172


_i32 = np.int32
_C = [_i32(v) for v in (F0298, F0390, F0541, F0765, F0899, F1175, F1501, F1847, F1961, F2053, F2562, F3072)]
I0298, I0390, I0541, I0765, I0899, I1175, I1501, I1847, I1961, I2053, I2562, I3072 = _C


@_jit
def _odd(a, b, c, d):
    """The odd part of both LL&M butterflies (see ``jpeg._odd``), in int32."""
    z5 = _i32(_i32(_i32(a + c) + _i32(b + d)) * I1175)
    z1, z2 = _i32(_i32(a + d) * -I0899), _i32(_i32(b + c) * -I2562)
    z3, z4 = _i32(_i32(_i32(a + c) * -I1961) + z5), _i32(_i32(_i32(b + d) * -I0390) + z5)
    return (_i32(_i32(a * I0298) + _i32(z1 + z3)), _i32(_i32(b * I2053) + _i32(z2 + z4)),
            _i32(_i32(c * I3072) + _i32(z2 + z3)), _i32(_i32(d * I1501) + _i32(z1 + z4)))


# The DCT passes work on "lanes": the 64 samples of every 8×8 block of a batch of planes stored
# as 64 rows (k = 8·v + u) of one lane per block, so each 1-D butterfly is one loop over all the
# blocks that LLVM vectorizes. Each pass reads one array and writes another (in place, the
# possible aliasing keeps the loop scalar). The integers are int32, as in libjpeg's 32-bit
# arithmetic (8 lanes per AVX2 vector, 2.7× the float64 passes): every intermediate of both
# butterflies stays below 2^31 for any 8-bit input and any table (worst case over all inputs,
# by interval arithmetic on ``jpeg._fdct_1d`` / ``_idct_1d``: 2^28.4 in the FDCT, 2^31 − 4.7·10^7
# in the IDCT's second pass; tested). numba widens int32 arithmetic to int64 unless every result
# is cast back, hence ``_i32(...)`` around each operation: LLVM then keeps 32-bit lanes.


@_jit
def _fdct_pass(a, i, di, b, o, do, even_shl, even_add, even_shr, shift, n):
    """One ``jpeg_fdct_islow`` pass over the first n lanes: inputs rows i, i + di, ..., i + 7·di
    of a, outputs those of b from row o by do; outputs 0 and 4 are (sum << even_shl + even_add)
    >> even_shr (rows: << 2; columns: DESCALE by 2), the rotated ones DESCALE(·, shift)."""
    r = _i32(1 << (shift - 1))
    # masked to 0..31: LLVM then shifts 32-bit lanes (an unmasked amount widens each to 64 bits)
    shift, even_shl, even_shr = _i32(shift & 31), _i32(even_shl & 31), _i32(even_shr & 31)
    i1, i2, i3, i4, i5, i6, i7 = i + di, i + 2 * di, i + 3 * di, i + 4 * di, i + 5 * di, i + 6 * di, i + 7 * di
    o1, o2, o3, o4, o5, o6, o7 = o + do, o + 2 * do, o + 3 * do, o + 4 * do, o + 5 * do, o + 6 * do, o + 7 * do
    for j in range(n):
        d0, d1, d2, d3, d4, d5, d6, d7 = a[i, j], a[i1, j], a[i2, j], a[i3, j], a[i4, j], a[i5, j], a[i6, j], a[i7, j]
        t0, t7, t1, t6 = _i32(d0 + d7), _i32(d0 - d7), _i32(d1 + d6), _i32(d1 - d6)
        t2, t5, t3, t4 = _i32(d2 + d5), _i32(d2 - d5), _i32(d3 + d4), _i32(d3 - d4)
        t10, t13, t11, t12 = _i32(t0 + t3), _i32(t0 - t3), _i32(t1 + t2), _i32(t1 - t2)
        z1 = _i32(_i32(t12 + t13) * I0541)
        w7, w5, w3, w1 = _odd(t4, t5, t6, t7)
        b[o, j] = _i32(_i32(_i32(_i32(t10 + t11) << even_shl) + even_add) >> even_shr)
        b[o4, j] = _i32(_i32(_i32(_i32(t10 - t11) << even_shl) + even_add) >> even_shr)
        b[o2, j] = _i32(_i32(_i32(z1 + _i32(t13 * I0765)) + r) >> shift)
        b[o6, j] = _i32(_i32(_i32(z1 - _i32(t12 * I1847)) + r) >> shift)
        b[o7, j], b[o5, j] = _i32(_i32(w7 + r) >> shift), _i32(_i32(w5 + r) >> shift)
        b[o3, j], b[o1, j] = _i32(_i32(w3 + r) >> shift), _i32(_i32(w1 + r) >> shift)


@_jit
def _quantize(a, b, qhalf, qstep, qval, n):
    """``jcdctmgr.c``'s quantization and the decoder's dequantization of the 64 frequencies
    (rows of a) of the first n lanes into b, in float32: k = floor((|t| + d/2)·step) with
    step = (1 + 10^−6)/d is floor((|t| + d/2)/d) (|t| < 2^14 and d/2 are exact; the exact quotient
    is an integer or >= 1/d below the next one; the bias, 10^−6 relative, is above float32's
    rounding of step and of the product, 1.2·10^−7, so it lifts exact quotients over the error,
    and (|t| + d)·1.2·10^−6 < 1/d for d <= 2040: nothing crosses an integer), i.e. t/d rounded
    half away from zero as ``compute_reciprocal``'s multiply (``jpeg._quantizer_as``); times Q."""
    for k in range(64):
        half, step, q = qhalf[k // 8, k % 8], qstep[k // 8, k % 8], qval[k // 8, k % 8]
        for j in range(n):
            t = a[k, j]
            m = _i32(np.floor((np.float32(abs(t)) + half) * step))
            b[k, j] = _i32((m if t >= 0 else -m) * q)


@_jit
def _idct_pass(a, i, di, b, o, do, shift, offset, clamp, n):
    """One ``jpeg_idct_islow`` pass over the first n lanes (rows as ``_fdct_pass``):
    DESCALE(·, shift) + offset, clamped to 0..255 if clamp."""
    r = _i32(1 << (shift - 1))
    shift = _i32(shift & 31)  # as in _fdct_pass
    lo, hi = _i32(0), _i32(255)
    i1, i2, i3, i4, i5, i6, i7 = i + di, i + 2 * di, i + 3 * di, i + 4 * di, i + 5 * di, i + 6 * di, i + 7 * di
    o1, o2, o3, o4, o5, o6, o7 = o + do, o + 2 * do, o + 3 * do, o + 4 * do, o + 5 * do, o + 6 * do, o + 7 * do
    for j in range(n):
        d0, d1, d2, d3, d4, d5, d6, d7 = a[i, j], a[i1, j], a[i2, j], a[i3, j], a[i4, j], a[i5, j], a[i6, j], a[i7, j]
        z1 = _i32(_i32(d2 + d6) * I0541)
        t2, t3 = _i32(z1 - _i32(d6 * I1847)), _i32(z1 + _i32(d2 * I0765))
        t0, t1 = _i32(_i32(d0 + d4) << CB), _i32(_i32(d0 - d4) << CB)
        t10, t13, t11, t12 = _i32(t0 + t3), _i32(t0 - t3), _i32(t1 + t2), _i32(t1 - t2)
        w3, w2, w1, w0 = _odd(d7, d5, d3, d1)
        v0 = _i32(_i32(_i32(_i32(t10 + w0) + r) >> shift) + offset)
        v7 = _i32(_i32(_i32(_i32(t10 - w0) + r) >> shift) + offset)
        v1 = _i32(_i32(_i32(_i32(t11 + w1) + r) >> shift) + offset)
        v6 = _i32(_i32(_i32(_i32(t11 - w1) + r) >> shift) + offset)
        v2 = _i32(_i32(_i32(_i32(t12 + w2) + r) >> shift) + offset)
        v5 = _i32(_i32(_i32(_i32(t12 - w2) + r) >> shift) + offset)
        v3 = _i32(_i32(_i32(_i32(t13 + w3) + r) >> shift) + offset)
        v4 = _i32(_i32(_i32(_i32(t13 - w3) + r) >> shift) + offset)
        if clamp:
            v0, v1, v2, v3 = min(max(v0, lo), hi), min(max(v1, lo), hi), min(max(v2, lo), hi), min(max(v3, lo), hi)
            v4, v5, v6, v7 = min(max(v4, lo), hi), min(max(v5, lo), hi), min(max(v6, lo), hi), min(max(v7, lo), hi)
        b[o, j], b[o1, j], b[o2, j], b[o3, j], b[o4, j], b[o5, j], b[o6, j], b[o7, j] = v0, v1, v2, v3, v4, v5, v6, v7


@_jit
def _code_lanes(a, b, qhalf, qstep, qval, n):
    """islow FDCT (rows >> 11, columns >> 15; DC << 2, then >> 2), quantize, dequantize, islow
    IDCT (columns >> 11, rows >> 18, + 128, clamped): the first n lanes of level-shifted samples
    in a, decoded samples 0..255 in b (a: overwritten). a and b are C-contiguous: their rows'
    first n entries are unit-stride, which the vectorized loops need (a column slice is not).
    The passes index a and b by row (no row views: numba's reference counting of each view cost
    ~0.2 µs a pass, 20 µs a call)."""
    for v in range(8):  # rows: u = 0..7 of row v
        _fdct_pass(a, 8 * v, 1, b, 8 * v, 1, _i32(P1), _i32(0), _i32(0), _i32(CB - P1), n)
    for u in range(8):  # columns: v = 0..7 of column u
        _fdct_pass(b, u, 8, a, u, 8, _i32(0), _i32(1 << (P1 - 1)), _i32(P1), _i32(CB + P1), n)
    _quantize(a, b, qhalf, qstep, qval, n)
    for u in range(8):
        _idct_pass(b, u, 8, a, u, 8, _i32(CB - P1), _i32(0), False, n)
    for v in range(8):
        _idct_pass(a, 8 * v, 1, b, 8 * v, 1, _i32(CB + P1 + 3), _i32(128), True, n)


# Blocks per batch of lanes: 64 rows of 512 int32 are 128 KiB, so a pass's input and output stay
# in a core's L2 cache (whole-batch lanes at 224 px are MBs: page faults and cache misses)
_LANES = 512


@_jit
def _code(planes, qhalf, qstep, qval, a, b):
    """islow FDCT, quantization, islow IDCT of M×H×W float32 planes (sides multiples of 8) in place:
    level-shifted samples in, decoded samples 0..255 out; whole rows of blocks, about _LANES
    blocks at a time (a, b: int32 lanes, 64 × at least max(_LANES, W/8) blocks)."""
    m, h, w = planes.shape
    nbx = w // 8
    p = planes.reshape(m * h, w)  # a block row g is image rows 8g .. 8g + 7
    per = max(1, a.shape[1] // nbx)
    for g0 in range(0, m * h // 8, per):
        g1 = min(g0 + per, m * h // 8)
        for g in range(g0, g1):
            j0 = (g - g0) * nbx
            for v in range(8):
                src = p[8 * g + v]
                for u in range(8):
                    dst = a[8 * v + u]
                    for bx in range(nbx):
                        dst[j0 + bx] = _i32(src[8 * bx + u])
        nj = (g1 - g0) * nbx
        _code_lanes(a, b, qhalf, qstep, qval, nj)
        for g in range(g0, g1):  # all 8 lanes of a block row in one loop: 1.8× the lane-by-lane copy
            j0 = (g - g0) * nbx
            for v in range(8):
                dst, k = p[8 * g + v], 8 * v
                b0, b1, b2, b3, b4, b5, b6, b7 = b[k], b[k + 1], b[k + 2], b[k + 3], b[k + 4], b[k + 5], b[k + 6], b[k + 7]
                for bx in range(nbx):
                    j, s = j0 + bx, 8 * bx
                    dst[s], dst[s + 1], dst[s + 2], dst[s + 3] = b0[j], b1[j], b2[j], b3[j]
                    dst[s + 4], dst[s + 5], dst[s + 6], dst[s + 7] = b4[j], b5[j], b6[j], b7[j]


# Colour conversion and resampling in float32: every product and sum there is an integer below
# 2^24 in magnitude (Y: 65536·255 + 2^15; the largest chroma term 116130·128), so float32 carries
# libjpeg's 16-bit fixed point exactly with twice the vector lanes of int64; >> s is floor(·2^−s).
_f32 = np.float32
_YR, _YG, _YB = _f32(19595), _f32(38470), _f32(7471)
_BR, _BG, _BB = _f32(-11059), _f32(-21709), _f32(32768)
_RR, _RG, _RB = _f32(32768), _f32(-27439), _f32(-5329)
_CR_R, _CB_G, _CR_G, _CB_B = _f32(91881), _f32(-22554), _f32(-46802), _f32(116130)
_HALF16, _HALF16M, _INV16 = _f32(32768), _f32(32767), _f32(2.0 ** -16)
_F0, _F1, _F2, _F3, _F7, _F8 = _f32(0), _f32(1), _f32(2), _f32(3), _f32(7), _f32(8)
_F128, _F255, _QUARTER, _SIXTEENTH = _f32(128), _f32(255), _f32(0.25), _f32(1 / 16)


@_jit
def _rgb_to_ycc(v, mul, y, cc):
    """``jccolor.c`` (16-bit fixed point, ½ and the 128 offsets folded in, level-shifted by −128)
    and ``h2v2_downsample`` ((2×2 sum + 1 or 2 alternating by column) >> 2) of images v
    (N×3×H×W, levels by ``_level``) into float32 y (N×Hp×Wp) and cc (2N×Hp/2×Wp/2), edges
    replicated to the padded size."""
    n, _, h, w = v.shape
    hp, wp = y.shape[1], y.shape[2]
    row = np.empty((4, wp), np.float32)
    for i in range(n):
        for r in range(hp):
            rr = min(r, h - 1)
            red, grn, blu, yo = v[i, 0, rr], v[i, 1, rr], v[i, 2, rr], y[i, r]
            cb, cr = row[2 * (r % 2)], row[2 * (r % 2) + 1]
            for c in range(w):
                R, G, B = _level(red[c], mul), _level(grn[c], mul), _level(blu[c], mul)
                yo[c] = np.floor((_YR * R + _YG * G + _YB * B + _HALF16) * _INV16) - _F128
                cb[c] = np.floor((_BR * R + _BG * G + _BB * B + _HALF16M) * _INV16)
                cr[c] = np.floor((_RR * R + _RG * G + _RB * B + _HALF16M) * _INV16)
            for c in range(w, wp):
                yo[c], cb[c], cr[c] = yo[w - 1], cb[w - 1], cr[w - 1]
            if r % 2 == 1:
                ob, orr = cc[2 * i, r // 2], cc[2 * i + 1, r // 2]
                for c in range(wp // 2):
                    bias = _F1 if c % 2 == 0 else _F2
                    ob[c] = np.floor((row[0, 2 * c] + row[0, 2 * c + 1] + row[2, 2 * c] + row[2, 2 * c + 1] + bias)
                                     * _QUARTER)
                    orr[c] = np.floor((row[1, 2 * c] + row[1, 2 * c + 1] + row[3, 2 * c] + row[3, 2 * c + 1] + bias)
                                      * _QUARTER)


@_jit
def _ycc_to_rgb(y, cc, out):
    """``h2v2_fancy_upsample`` of the decoded chroma (column sums 3·near + far, then along the
    row (3·s + left + 8) >> 4 at even, (3·s + right + 7) >> 4 at odd outputs, edges replicated)
    and ``ycc_rgb_convert`` (16-bit fixed point, clamped) into out (float32 N×3×H×W, level / 255
    as torch's ``div_(255)``, IEEE division)."""
    n, _, h, w = out.shape
    hs, ws = cc.shape[1], cc.shape[2]
    # column sums with the edge sample repeated once on either side: the row filter's loop then
    # has no edge cases (one loop for both chroma planes, both outputs of a sample: paired stores)
    sb, sr = np.empty(ws + 2, np.float32), np.empty(ws + 2, np.float32)
    ub, ur = np.empty(2 * ws, np.float32), np.empty(2 * ws, np.float32)
    for i in range(n):
        cb, cr = cc[2 * i], cc[2 * i + 1]
        for r in range(h):
            ir = r // 2
            nr = max(ir - 1, 0) if r % 2 == 0 else min(ir + 1, hs - 1)
            cb0, cb1, cr0, cr1 = cb[ir], cb[nr], cr[ir], cr[nr]
            for c in range(ws):
                sb[c + 1] = _F3 * cb0[c] + cb1[c]
                sr[c + 1] = _F3 * cr0[c] + cr1[c]
            sb[0], sr[0], sb[ws + 1], sr[ws + 1] = sb[1], sr[1], sb[ws], sr[ws]
            for c in range(ws):
                ub[2 * c] = np.floor((_F3 * sb[c + 1] + sb[c] + _F8) * _SIXTEENTH) - _F128
                ub[2 * c + 1] = np.floor((_F3 * sb[c + 1] + sb[c + 2] + _F7) * _SIXTEENTH) - _F128
                ur[2 * c] = np.floor((_F3 * sr[c + 1] + sr[c] + _F8) * _SIXTEENTH) - _F128
                ur[2 * c + 1] = np.floor((_F3 * sr[c + 1] + sr[c + 2] + _F7) * _SIXTEENTH) - _F128
            yr, o0, o1, o2 = y[i, r], out[i, 0, r], out[i, 1, r], out[i, 2, r]
            for c in range(w):
                yy, b, rr = yr[c], ub[c], ur[c]
                o0[c] = min(max(yy + np.floor((_CR_R * rr + _HALF16) * _INV16), _F0), _F255) / _F255
                o1[c] = min(max(yy + np.floor((_CB_G * b + _CR_G * rr + _HALF16) * _INV16), _F0), _F255) / _F255
                o2[c] = min(max(yy + np.floor((_CB_B * b + _HALF16) * _INV16), _F0), _F255) / _F255


@_jit
def _level(x, mul):
    """round(x·255) of a float32 sample as the torch path takes it (``torch.mul(x, 255,
    out=float32)``, then to the nearest integer, ties to even); mul = 255 (or 1 for levels)."""
    return np.rint(x * mul)


@_jit
def _grey_in(v, mul, y):
    """Level-shifted samples of grey images v (N×1×H×W float32), edges replicated to y's size."""
    n, _, h, w = v.shape
    for i in range(n):
        for r in range(y.shape[1]):
            src, dst = v[i, 0, min(r, h - 1)], y[i, r]
            for c in range(w):
                dst[c] = _level(src[c], mul) - _F128
            for c in range(w, y.shape[2]):
                dst[c] = dst[w - 1]


@_jit
def _grey_out(y, out):
    n, _, h, w = out.shape
    for i in range(n):
        for r in range(h):
            for c in range(w):
                out[i, 0, r, c] = y[i, r, c] / _F255


def _quant_arrays(table: torch.Tensor) -> tuple:
    """(d/2, (1 + 10^−6)/d as float32, Q as int32) 8×8 for the divisor d = 8·Q of each frequency (``_quantize``)."""
    q = table.to(torch.float64).numpy()
    return (np.ascontiguousarray(4 * q, np.float32), np.ascontiguousarray((1 + 1e-6) / (8 * q), np.float32),
            np.ascontiguousarray(q, np.int32))


@_jit
def _jpeg_batch(v, mul, hp, wp, luma, chroma, out):
    """The round trip of images v (N×C×H×W in [0, 1]) into out, a group of images at a time whose
    luma has about _LANES blocks: buffers stay in cache and are reused, the lanes stay long."""
    n, ch, h, w = v.shape
    group = max(1, _LANES // (hp * wp // 64))
    y = np.empty((group, hp, wp), np.float32)
    cc = np.empty((2 * group, hp // 2, wp // 2), np.float32)
    # the lanes, allocated once (per _code call they were a fresh mmap above glibc's threshold)
    a = np.empty((64, max(_LANES, wp // 8)), np.int32)
    b = np.empty((64, max(_LANES, wp // 8)), np.int32)
    for i0 in range(0, n, group):
        i1 = min(i0 + group, n)
        yg, cg = y[:i1 - i0], cc[:2 * (i1 - i0)]
        if ch == 1:
            _grey_in(v[i0:i1], mul, yg)
            _code(yg, luma[0], luma[1], luma[2], a, b)
            _grey_out(yg, out[i0:i1])
        else:
            _rgb_to_ycc(v[i0:i1], mul, yg, cg)
            _code(yg, luma[0], luma[1], luma[2], a, b)
            _code(cg, chroma[0], chroma[1], chroma[2], a, b)
            _ycc_to_rgb(yg, cg, out[i0:i1])


def jpeg_roundtrip(x: torch.Tensor, quality: int, luma: torch.Tensor, chroma: torch.Tensor) -> torch.Tensor:
    """``jpeg.jpeg_roundtrip`` on a CPU batch by the compiled kernels (luma, chroma: the 8×8 tables):
    colour conversion and 4:2:0 subsampling, the DCT passes over the blocks of a group of images
    at once, fancy upsampling and the colour conversion back."""
    n, ch, h, w = x.shape
    mcu = 16 if ch == 3 else 8
    # the torch path's levels: the product in x's type, rounded to float32, then to an integer
    v, mul = as_float32(x, lambda t: torch.mul(t, 255, out=new_buffer(t.shape, t, torch.float32)).round_())
    out = new_buffer(x.shape, x, torch.float32)
    _jpeg_batch(v, mul, h + (-h) % mcu, w + (-w) % mcu, _quant_arrays(luma), _quant_arrays(chroma), out.numpy())
    return out.to(x.dtype)
