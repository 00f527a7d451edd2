"""Compiled JPEG round trip (see ``_jit``): libjpeg-turbo's integer arithmetic, as ``jpeg.py``."""
from __future__ import annotations

import numpy as np
import torch

from ._jit import as_float32, jit as _jit


# jfdctint.c / jidctint.c constants: FIX(c) = round(c·2^13)
CB, P1 = 13, 2
F0298, F0390, F0541, F0765 = 2446, 3196, 4433, 6270
F0899, F1175, F1501, F1847 = 7373, 9633, 12299, 15137
F1961, F2053, F2562, F3072 = 16069, 16819, 20995, 25172


@_jit
def _odd(a, b, c, d):
    """The odd part of both LL&M butterflies (see ``jpeg._odd``)."""
    z5 = (a + c + b + d) * F1175
    z1, z2 = (a + d) * -F0899, (b + c) * -F2562
    z3, z4 = (a + c) * -F1961 + z5, (b + d) * -F0390 + z5
    return a * F0298 + z1 + z3, b * F2053 + z2 + z4, c * F3072 + z2 + z3, d * F1501 + z1 + z4


# The DCT passes work on "lanes": the 64 samples of every 8×8 block of a batch of planes stored
# as 64 rows (k = 8·v + u) of one lane per block, so each 1-D butterfly is one loop over all the
# blocks that LLVM vectorizes. Each pass reads one array and writes another (in place, the
# possible aliasing keeps the loop scalar). The integers are carried in float64 (exact below
# 2^53; the sums stay below 2^40): its vector multiply is one instruction, int64's several, and
# DESCALE(x, s) = (x + 2^(s−1)) >> s is floor((x + 2^(s−1))·2^−s), exact (a power of two).


@_jit
def _fdct_pass(d0, d1, d2, d3, d4, d5, d6, d7, o0, o1, o2, o3, o4, o5, o6, o7, even_mul, even_add, shift, n):
    """One ``jpeg_fdct_islow`` pass over all lanes: outputs 0 and 4 are floor(sum·even_mul +
    even_add) (rows: ·4, exact; columns: DESCALE by 2), the rotated ones DESCALE(·, shift)."""
    r, inv = float(1 << (shift - 1)), 1.0 / (1 << shift)
    for j in range(n):
        t0, t7, t1, t6 = d0[j] + d7[j], d0[j] - d7[j], d1[j] + d6[j], d1[j] - d6[j]
        t2, t5, t3, t4 = d2[j] + d5[j], d2[j] - d5[j], d3[j] + d4[j], d3[j] - d4[j]
        t10, t13, t11, t12 = t0 + t3, t0 - t3, t1 + t2, t1 - t2
        z1 = (t12 + t13) * F0541
        a, b, c, e = _odd(t4, t5, t6, t7)
        o0[j] = np.floor((t10 + t11) * even_mul + even_add)
        o4[j] = np.floor((t10 - t11) * even_mul + even_add)
        o2[j] = np.floor((z1 + t13 * F0765 + r) * inv)
        o6[j] = np.floor((z1 - t12 * F1847 + r) * inv)
        o7[j], o5[j] = np.floor((a + r) * inv), np.floor((b + r) * inv)
        o3[j], o1[j] = np.floor((c + r) * inv), np.floor((e + r) * inv)


@_jit
def _quantize(t, o, half, step, q, n):
    """``jcdctmgr.c``'s quantization and the decoder's dequantization of one frequency over all
    lanes: k = floor((|t| + d/2)·step) with step = (1 + 10^−6)/d is floor((|t| + d/2)/d) (the
    exact quotient is an integer or >= 1/d below the next one, and (|t| + d)·10^−6 < 1/d for
    |t| < 2^15: the bias lifts exact quotients over float error and nothing across an integer),
    i.e. t/d rounded half away from zero as ``compute_reciprocal``'s multiply (``jpeg._quantizer_as``); times Q."""
    for j in range(n):
        k = np.floor((abs(t[j]) + half) * step)
        o[j] = (k if t[j] >= 0 else -k) * q


@_jit
def _idct_pass(d0, d1, d2, d3, d4, d5, d6, d7, o0, o1, o2, o3, o4, o5, o6, o7, shift, offset, lo, hi, n):
    """One ``jpeg_idct_islow`` pass over all lanes: DESCALE(·, shift) + offset, clamped to lo..hi."""
    r, inv, c13 = float(1 << (shift - 1)), 1.0 / (1 << shift), float(1 << CB)
    for j in range(n):
        z1 = (d2[j] + d6[j]) * F0541
        t2, t3 = z1 - d6[j] * F1847, z1 + d2[j] * F0765
        t0, t1 = (d0[j] + d4[j]) * c13, (d0[j] - d4[j]) * c13
        t10, t13, t11, t12 = t0 + t3, t0 - t3, t1 + t2, t1 - t2
        a, b, c, e = _odd(d7[j], d5[j], d3[j], d1[j])
        o0[j] = min(max(np.floor((t10 + e + r) * inv) + offset, lo), hi)
        o7[j] = min(max(np.floor((t10 - e + r) * inv) + offset, lo), hi)
        o1[j] = min(max(np.floor((t11 + c + r) * inv) + offset, lo), hi)
        o6[j] = min(max(np.floor((t11 - c + r) * inv) + offset, lo), hi)
        o2[j] = min(max(np.floor((t12 + b + r) * inv) + offset, lo), hi)
        o5[j] = min(max(np.floor((t12 - b + r) * inv) + offset, lo), hi)
        o3[j] = min(max(np.floor((t13 + a + r) * inv) + offset, lo), hi)
        o4[j] = min(max(np.floor((t13 - a + r) * inv) + offset, lo), hi)


@_jit
def _code_lanes(a, b, qhalf, qstep, qval, n):
    """islow FDCT (rows >> 11, columns >> 15; DC << 2, then >> 2), quantize, dequantize, islow
    IDCT (columns >> 11, rows >> 18, + 128, clamped): the first n lanes of level-shifted samples
    in a, decoded samples 0..255 in b (a: overwritten). a and b are C-contiguous: their rows'
    first n entries are unit-stride, which the vectorized loops need (a column slice is not)."""
    big = 2.0 ** 50
    for v in range(8):  # rows: u = 0..7 of row v
        k = 8 * v
        _fdct_pass(a[k], a[k + 1], a[k + 2], a[k + 3], a[k + 4], a[k + 5], a[k + 6], a[k + 7],
                   b[k], b[k + 1], b[k + 2], b[k + 3], b[k + 4], b[k + 5], b[k + 6], b[k + 7], 4.0, 0.0, CB - P1, n)
    for u in range(8):  # columns: v = 0..7 of column u
        _fdct_pass(b[u], b[8 + u], b[16 + u], b[24 + u], b[32 + u], b[40 + u], b[48 + u], b[56 + u],
                   a[u], a[8 + u], a[16 + u], a[24 + u], a[32 + u], a[40 + u], a[48 + u], a[56 + u],
                   0.25, 0.5, CB + P1, n)
    for k in range(64):
        _quantize(a[k], b[k], qhalf[k // 8, k % 8], qstep[k // 8, k % 8], qval[k // 8, k % 8], n)
    for u in range(8):
        _idct_pass(b[u], b[8 + u], b[16 + u], b[24 + u], b[32 + u], b[40 + u], b[48 + u], b[56 + u],
                   a[u], a[8 + u], a[16 + u], a[24 + u], a[32 + u], a[40 + u], a[48 + u], a[56 + u],
                   CB - P1, 0.0, -big, big, n)
    for v in range(8):
        k = 8 * v
        _idct_pass(a[k], a[k + 1], a[k + 2], a[k + 3], a[k + 4], a[k + 5], a[k + 6], a[k + 7],
                   b[k], b[k + 1], b[k + 2], b[k + 3], b[k + 4], b[k + 5], b[k + 6], b[k + 7],
                   CB + P1 + 3, 128.0, 0.0, 255.0, n)


# Blocks per batch of lanes: 64 rows of 512 float64 are 256 KiB, so a pass's input and output stay
# in a core's L2 cache (whole-batch lanes at 224 px are MBs: page faults and cache misses)
_LANES = 512


@_jit
def _code(planes, qhalf, qstep, qval):
    """islow FDCT, quantization, islow IDCT of M×H×W float32 planes (sides multiples of 8) in place:
    level-shifted samples in, decoded samples 0..255 out; whole rows of blocks, about _LANES
    blocks at a time."""
    m, h, w = planes.shape
    nbx = w // 8
    p = planes.reshape(m * h, w)  # a block row g is image rows 8g .. 8g + 7
    per = max(1, _LANES // nbx)
    a = np.empty((64, per * nbx), np.float64)
    b = np.empty((64, per * nbx), np.float64)
    for g0 in range(0, m * h // 8, per):
        g1 = min(g0 + per, m * h // 8)
        for g in range(g0, g1):
            j0 = (g - g0) * nbx
            for v in range(8):
                src = p[8 * g + v]
                for u in range(8):
                    dst = a[8 * v + u]
                    for bx in range(nbx):
                        dst[j0 + bx] = src[8 * bx + u]
        nj = (g1 - g0) * nbx
        _code_lanes(a, b, qhalf, qstep, qval, nj)
        for g in range(g0, g1):
            j0 = (g - g0) * nbx
            for v in range(8):
                dst = p[8 * g + v]
                for u in range(8):
                    src = b[8 * v + u]
                    for bx in range(nbx):
                        dst[8 * bx + u] = src[j0 + bx]


# Colour conversion and resampling in float32: every product and sum there is an integer below
# 2^24 in magnitude (Y: 65536·255 + 2^15; the largest chroma term 116130·128), so float32 carries
# libjpeg's 16-bit fixed point exactly with twice the vector lanes of int64; >> s is floor(·2^−s).
_f32 = np.float32
_YR, _YG, _YB = _f32(19595), _f32(38470), _f32(7471)
_BR, _BG, _BB = _f32(-11059), _f32(-21709), _f32(32768)
_RR, _RG, _RB = _f32(32768), _f32(-27439), _f32(-5329)
_CR_R, _CB_G, _CR_G, _CB_B = _f32(91881), _f32(-22554), _f32(-46802), _f32(116130)
_HALF16, _HALF16M, _INV16 = _f32(32768), _f32(32767), _f32(2.0 ** -16)
_F0, _F1, _F2, _F3, _F4, _F7, _F8 = _f32(0), _f32(1), _f32(2), _f32(3), _f32(4), _f32(7), _f32(8)
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
def _upsample_row(s, out):
    """``h2v2_fancy_upsample`` along a row of column sums s (3·near + far): (3·s + left + 8) >> 4
    at even, (3·s + right + 7) >> 4 at odd outputs, edges replicated; minus 128."""
    m = s.shape[0]
    out[0] = np.floor((_F4 * s[0] + _F8) * _SIXTEENTH) - _F128
    for j in range(1, m):
        out[2 * j] = np.floor((_F3 * s[j] + s[j - 1] + _F8) * _SIXTEENTH) - _F128
    for j in range(m - 1):
        out[2 * j + 1] = np.floor((_F3 * s[j] + s[j + 1] + _F7) * _SIXTEENTH) - _F128
    out[2 * m - 1] = np.floor((_F4 * s[m - 1] + _F7) * _SIXTEENTH) - _F128


@_jit
def _ycc_to_rgb(y, cc, out):
    """Fancy upsampling of the decoded chroma and ``ycc_rgb_convert`` (16-bit fixed point,
    clamped) into out (float32 N×3×H×W, level / 255 as torch's ``div_(255)``: IEEE division)."""
    n, _, h, w = out.shape
    hs, ws = cc.shape[1], cc.shape[2]
    s = np.empty(ws, np.float32)
    ub, ur = np.empty(2 * ws, np.float32), np.empty(2 * ws, np.float32)
    for i in range(n):
        cb, cr = cc[2 * i], cc[2 * i + 1]
        for r in range(h):
            ir = r // 2
            nr = max(ir - 1, 0) if r % 2 == 0 else min(ir + 1, hs - 1)
            for c in range(ws):
                s[c] = _F3 * cb[ir, c] + cb[nr, c]
            _upsample_row(s, ub)
            for c in range(ws):
                s[c] = _F3 * cr[ir, c] + cr[nr, c]
            _upsample_row(s, ur)
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
    """(d/2, (1 + 10^−6)/d, Q) as float64 8×8 for the divisor d = 8·Q of each frequency (``_quantize``)."""
    q = table.to(torch.float64).numpy()
    return np.ascontiguousarray(4 * q), np.ascontiguousarray((1 + 1e-6) / (8 * q)), np.ascontiguousarray(q)


@_jit
def _jpeg_batch(v, mul, hp, wp, luma, chroma, out):
    """The round trip of images v (N×C×H×W in [0, 1]) into out, a group of images at a time whose
    luma has about _LANES blocks: buffers stay in cache and are reused, the lanes stay long."""
    n, ch, h, w = v.shape
    group = max(1, _LANES // (hp * wp // 64))
    y = np.empty((group, hp, wp), np.float32)
    cc = np.empty((2 * group, hp // 2, wp // 2), np.float32)
    for i0 in range(0, n, group):
        i1 = min(i0 + group, n)
        yg, cg = y[:i1 - i0], cc[:2 * (i1 - i0)]
        if ch == 1:
            _grey_in(v[i0:i1], mul, yg)
            _code(yg, luma[0], luma[1], luma[2])
            _grey_out(yg, out[i0:i1])
        else:
            _rgb_to_ycc(v[i0:i1], mul, yg, cg)
            _code(yg, luma[0], luma[1], luma[2])
            _code(cg, chroma[0], chroma[1], chroma[2])
            _ycc_to_rgb(yg, cg, out[i0:i1])


def jpeg_roundtrip(x: torch.Tensor, quality: int, luma: torch.Tensor, chroma: torch.Tensor) -> torch.Tensor:
    """``jpeg.jpeg_roundtrip`` on a CPU batch by the compiled kernels (luma, chroma: the 8×8 tables):
    colour conversion and 4:2:0 subsampling, the DCT passes over the blocks of a group of images
    at once, fancy upsampling and the colour conversion back."""
    n, ch, h, w = x.shape
    mcu = 16 if ch == 3 else 8
    # the torch path's levels: the product in x's type, rounded to float32, then to an integer
    v, mul = as_float32(x, lambda t: torch.mul(t, 255, out=torch.empty(t.shape, dtype=torch.float32)).round_())
    out = torch.empty(x.shape, dtype=torch.float32)
    _jpeg_batch(v, mul, h + (-h) % mcu, w + (-w) % mcu, _quant_arrays(luma), _quant_arrays(chroma), out.numpy())
    return out.to(x.dtype)
