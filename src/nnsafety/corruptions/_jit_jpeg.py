"""Compiled JPEG round trip (see ``_jit``): libjpeg-turbo's integer arithmetic, as ``jpeg.py``."""
from __future__ import annotations

import numpy as np
import torch

from .._validation import check_images
from ._buffers import new_buffer
from ._jit import as_float32, jit as _jit


# jfdctint.c / jidctint.c constants: FIX(c) = round(c·2^13)
CB, P1 = 13, 2
F0298, F0390, F0541, F0765 = 2446, 3196, 4433, 6270
F0899, F1175, F1501, F1847 = 7373, 9633, 12299, 15137
F1961, F2053, F2562, F3072 = 16069, 16819, 20995, 25172


_i32, _f32 = np.int32, np.float32
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


# The DCT works on "lanes": the 64 samples of every 8×8 block of a batch of planes stored as 64
# rows (k = 8·v + u) of one lane per block, so each 1-D butterfly is one loop over all the blocks
# that LLVM vectorizes. Three passes: the FDCT's rows straight from the planes into lanes, then per
# column the FDCT, the quantizer and the IDCT (the 8 coefficients of a column are all that each
# needs), then the IDCT's rows straight back into the planes. Each pass reads one array and
# writes another (in place, the possible aliasing keeps the loop scalar); the passes index the
# 2-D lanes by row (row views passed to a callee cost numba a reference count each, ~0.2 µs a
# pass). The integers are int32, as in libjpeg's 32-bit
# arithmetic (8 lanes per AVX2 vector, 2.7× the float64 passes): every intermediate of both
# butterflies stays below 2^31 for any 8-bit input and any table (worst case over all inputs,
# by interval arithmetic on ``jpeg._fdct_1d`` / ``_idct_1d``: 2^28.4 in the FDCT, 2^31 − 4.7·10^7
# in the IDCT's second pass; tested). numba widens int32 arithmetic to int64 unless every result
# is cast back, hence ``_i32(...)`` around each operation: LLVM then keeps 32-bit lanes.


@_jit
def _fdct_1d(d0, d1, d2, d3, d4, d5, d6, d7):
    """``jpeg_fdct_islow``'s butterfly up to its shifts: outputs 0 and 4 as integer sums, 2, 6, 1,
    3, 5, 7 in units of 2^13 (before ``DESCALE``)."""
    t0, t7, t1, t6 = _i32(d0 + d7), _i32(d0 - d7), _i32(d1 + d6), _i32(d1 - d6)
    t2, t5, t3, t4 = _i32(d2 + d5), _i32(d2 - d5), _i32(d3 + d4), _i32(d3 - d4)
    t10, t13, t11, t12 = _i32(t0 + t3), _i32(t0 - t3), _i32(t1 + t2), _i32(t1 - t2)
    z1 = _i32(_i32(t12 + t13) * I0541)
    w7, w5, w3, w1 = _odd(t4, t5, t6, t7)
    return (_i32(t10 + t11), _i32(t10 - t11), _i32(z1 + _i32(t13 * I0765)), _i32(z1 - _i32(t12 * I1847)),
            w1, w3, w5, w7)


@_jit
def _idct_1d(d0, d1, d2, d3, d4, d5, d6, d7):
    """``jpeg_idct_islow``'s butterfly up to its ``DESCALE``: the 8 outputs in units of 2^13."""
    z1 = _i32(_i32(d2 + d6) * I0541)
    t2, t3 = _i32(z1 - _i32(d6 * I1847)), _i32(z1 + _i32(d2 * I0765))
    t0, t1 = _i32(_i32(d0 + d4) << CB), _i32(_i32(d0 - d4) << CB)
    t10, t13, t11, t12 = _i32(t0 + t3), _i32(t0 - t3), _i32(t1 + t2), _i32(t1 - t2)
    w3, w2, w1, w0 = _odd(d7, d5, d3, d1)
    return (_i32(t10 + w0), _i32(t11 + w1), _i32(t12 + w2), _i32(t13 + w3),
            _i32(t13 - w3), _i32(t12 - w2), _i32(t11 - w1), _i32(t10 - w0))


# The shifts: DESCALE(x, n) = (x + 2^(n−1)) >> n with n a constant (LLVM then shifts 32-bit lanes
# by an immediate; a shift by a variable amount made numba widen every lane to 64 bits)
_R1, _R2, _R3, _R4 = _i32(1 << (CB - P1 - 1)), _i32(1 << (CB + P1 - 1)), _i32(1 << (P1 - 1)), _i32(1 << (CB + P1 + 2))


@_jit
def _fdct_rows(p, b, k, n):
    """The FDCT's row pass fused with the move into lanes: row j of n blocks (8 level-shifted
    samples at 8j of p, float32) to b[k .. k + 7, j] (outputs 0 and 4 << 2, the others DESCALE by
    11). p's runs of 8 are read contiguously; LLVM deinterleaves them with vector permutes."""
    for j in range(n):
        s = 8 * j
        e0, e4, o2, o6, o1, o3, o5, o7 = _fdct_1d(_i32(p[s]), _i32(p[s + 1]), _i32(p[s + 2]), _i32(p[s + 3]),
                                                  _i32(p[s + 4]), _i32(p[s + 5]), _i32(p[s + 6]), _i32(p[s + 7]))
        b[k, j], b[k + 4, j] = _i32(e0 << P1), _i32(e4 << P1)
        b[k + 2, j], b[k + 6, j] = _i32(_i32(o2 + _R1) >> (CB - P1)), _i32(_i32(o6 + _R1) >> (CB - P1))
        b[k + 1, j], b[k + 3, j] = _i32(_i32(o1 + _R1) >> (CB - P1)), _i32(_i32(o3 + _R1) >> (CB - P1))
        b[k + 5, j], b[k + 7, j] = _i32(_i32(o5 + _R1) >> (CB - P1)), _i32(_i32(o7 + _R1) >> (CB - P1))


@_jit
def _dq(t, half, step, q):
    """``jcdctmgr.c``'s quantization and the decoder's dequantization of a coefficient t (×8) in
    float32: k = floor((|t| + d/2)·step) with step = (1 + 10^−6)/d is floor((|t| + d/2)/d)
    (|t| < 2^14 and d/2 are exact; the exact quotient is an integer or >= 1/d below the next one;
    the bias, 10^−6 relative, is above float32's rounding of step and of the product, 1.2·10^−7,
    so it lifts exact quotients over the error, and (|t| + d)·1.2·10^−6 < 1/d for d <= 2040:
    nothing crosses an integer), i.e. t/d rounded half away from zero as ``compute_reciprocal``'s
    multiply (``jpeg._quantizer_as``); times Q."""
    tf = _f32(t)
    return _i32(np.copysign(np.floor((abs(tf) + half) * step), tf) * q)  # k·Q < 2^12: exact


@_jit
def _column(b, a, u, qh, qs, qv, n):
    """Column u of every block: the FDCT's column pass, quantization and dequantization, the
    IDCT's column pass (the 8 coefficients (v, u) the one makes are the 8 the other takes), b to a."""
    h0, h1, h2, h3, h4, h5, h6, h7 = qh[0, u], qh[1, u], qh[2, u], qh[3, u], qh[4, u], qh[5, u], qh[6, u], qh[7, u]
    s0, s1, s2, s3, s4, s5, s6, s7 = qs[0, u], qs[1, u], qs[2, u], qs[3, u], qs[4, u], qs[5, u], qs[6, u], qs[7, u]
    q0, q1, q2, q3, q4, q5, q6, q7 = qv[0, u], qv[1, u], qv[2, u], qv[3, u], qv[4, u], qv[5, u], qv[6, u], qv[7, u]
    for j in range(n):
        e0, e4, o2, o6, o1, o3, o5, o7 = _fdct_1d(b[u, j], b[u + 8, j], b[u + 16, j], b[u + 24, j],
                                                  b[u + 32, j], b[u + 40, j], b[u + 48, j], b[u + 56, j])
        v0, v1, v2, v3, v4, v5, v6, v7 = _idct_1d(
            _dq(_i32(_i32(e0 + _R3) >> P1), h0, s0, q0), _dq(_i32(_i32(o1 + _R2) >> (CB + P1)), h1, s1, q1),
            _dq(_i32(_i32(o2 + _R2) >> (CB + P1)), h2, s2, q2), _dq(_i32(_i32(o3 + _R2) >> (CB + P1)), h3, s3, q3),
            _dq(_i32(_i32(e4 + _R3) >> P1), h4, s4, q4), _dq(_i32(_i32(o5 + _R2) >> (CB + P1)), h5, s5, q5),
            _dq(_i32(_i32(o6 + _R2) >> (CB + P1)), h6, s6, q6), _dq(_i32(_i32(o7 + _R2) >> (CB + P1)), h7, s7, q7))
        a[u, j], a[u + 8, j] = _i32(_i32(v0 + _R1) >> (CB - P1)), _i32(_i32(v1 + _R1) >> (CB - P1))
        a[u + 16, j], a[u + 24, j] = _i32(_i32(v2 + _R1) >> (CB - P1)), _i32(_i32(v3 + _R1) >> (CB - P1))
        a[u + 32, j], a[u + 40, j] = _i32(_i32(v4 + _R1) >> (CB - P1)), _i32(_i32(v5 + _R1) >> (CB - P1))
        a[u + 48, j], a[u + 56, j] = _i32(_i32(v6 + _R1) >> (CB - P1)), _i32(_i32(v7 + _R1) >> (CB - P1))


@_jit
def _sample(x):
    """DESCALE by 18, + 128, clamped to 0..255, as float32 (the IDCT's output sample)."""
    return _f32(min(max(_i32(_i32(_i32(x + _R4) >> (CB + P1 + 3)) + _i32(128)), _i32(0)), _i32(255)))


@_jit
def _idct_rows(a, k, p, n):
    """The IDCT's row pass fused with the move out of lanes: a[k .. k + 7, j] to the 8 samples at
    8j of p (float32), DESCALE by 18, + 128, clamped to 0..255."""
    for j in range(n):
        v0, v1, v2, v3, v4, v5, v6, v7 = _idct_1d(a[k, j], a[k + 1, j], a[k + 2, j], a[k + 3, j],
                                                  a[k + 4, j], a[k + 5, j], a[k + 6, j], a[k + 7, j])
        s = 8 * j
        p[s], p[s + 1], p[s + 2], p[s + 3] = _sample(v0), _sample(v1), _sample(v2), _sample(v3)
        p[s + 4], p[s + 5], p[s + 6], p[s + 7] = _sample(v4), _sample(v5), _sample(v6), _sample(v7)


# Blocks per batch of lanes: 64 rows of 1024 int32 are 256 KiB, so a pass's input and output stay
# in a core's L2 cache (whole-batch lanes at 224 px are MBs: page faults and cache misses); a
# 224-px image (784 blocks) is one batch (smaller ones measured slower: more loop set-ups)
_LANES = 1024


@_jit
def _vrow(r, bands):
    """Where row r of a stack of planes (``bands`` rows of 8×8 blocks) is kept: v-major, all the
    rows 8g + v of every band g, then those of v + 1, so that row v of every block of a run of
    bands is one contiguous run of 8-sample groups (what ``_fdct_rows`` / ``_idct_rows`` walk)."""
    return (r % 8) * bands + r // 8


@_jit
def _code(p, qhalf, qstep, qval, a, b):
    """islow FDCT, quantization, islow IDCT of a stack of planes in place (p: rows × W float32,
    rows kept v-major, see ``_vrow``; W % 8 = 0): level-shifted samples in, decoded samples 0..255
    out; whole bands of blocks, at most a.shape[1] blocks at a time (a, b: int32 lanes, 64 × at
    least W/8)."""
    rows, w = p.shape
    bands, nbx = rows // 8, w // 8
    flat = p.reshape(rows * w)
    per = max(1, a.shape[1] // nbx)
    for g0 in range(0, bands, per):
        g1 = min(g0 + per, bands)
        n = (g1 - g0) * nbx
        for v in range(8):
            _fdct_rows(flat[(v * bands + g0) * w:(v * bands + g1) * w], b, 8 * v, n)
        for u in range(8):
            _column(b, a, u, qhalf, qstep, qval, n)
        for v in range(8):
            _idct_rows(a, 8 * v, flat[(v * bands + g0) * w:(v * bands + g1) * w], n)


# Colour conversion and resampling in float32: every product and sum there is an integer below
# 2^24 in magnitude (Y: 65536·255 + 2^15; the largest chroma term 116130·128), so float32 carries
# libjpeg's 16-bit fixed point exactly with twice the vector lanes of int64; >> s is floor(·2^−s).
_YR, _YG, _YB = _f32(19595), _f32(38470), _f32(7471)
_BR, _BG, _BB = _f32(-11059), _f32(-21709), _f32(32768)
_RR, _RG, _RB = _f32(32768), _f32(-27439), _f32(-5329)
_CR_R, _CB_G, _CR_G, _CB_B = _f32(91881), _f32(-22554), _f32(-46802), _f32(116130)
_HALF16, _HALF16M, _INV16 = _f32(32768), _f32(32767), _f32(2.0 ** -16)
_F0, _F1, _F2, _F3, _F7, _F8 = _f32(0), _f32(1), _f32(2), _f32(3), _f32(7), _f32(8)
_F128, _F255, _QUARTER, _SIXTEENTH = _f32(128), _f32(255), _f32(0.25), _f32(1 / 16)


@_jit
def _rgb_to_ycc(v, mul, lim, y, cc):
    """``jccolor.c`` (16-bit fixed point, ½ and the 128 offsets folded in, level-shifted by −128)
    and ``h2v2_downsample`` ((2×2 sum + 1 or 2 alternating by column) >> 2) of images v
    (N×3×H×W, levels by ``_level``) into float32 y (N·Hp × Wp) and cc (2N·Hp/2 × Wp/2: Cb, Cr of
    each image), edges replicated to the padded size, rows kept v-major (``_vrow``). Returns
    whether some value of v is outside [0, lim] or NaN (the range check, in the one read of v)."""
    bad = False
    n, _, h, w = v.shape
    wp = y.shape[1]
    hp = y.shape[0] // n
    yb, cb_bands = y.shape[0] // 8, cc.shape[0] // 8
    row = np.empty((4, wp), np.float32)
    for i in range(n):
        for r in range(hp):
            rr = min(r, h - 1)
            red, grn, blu, yo = v[i, 0, rr], v[i, 1, rr], v[i, 2, rr], y[_vrow(i * hp + r, yb)]
            cb, cr = row[2 * (r % 2)], row[2 * (r % 2) + 1]
            for c in range(w):
                xr, xg, xb = red[c], grn[c], blu[c]
                bad |= not (xr >= 0 and xr <= lim and xg >= 0 and xg <= lim and xb >= 0 and xb <= lim)
                R, G, B = _level(xr, mul), _level(xg, mul), _level(xb, mul)
                yo[c] = np.floor((_YR * R + _YG * G + _YB * B + _HALF16) * _INV16) - _F128
                cb[c] = np.floor((_BR * R + _BG * G + _BB * B + _HALF16M) * _INV16)
                cr[c] = np.floor((_RR * R + _RG * G + _RB * B + _HALF16M) * _INV16)
            for c in range(w, wp):
                yo[c], cb[c], cr[c] = yo[w - 1], cb[w - 1], cr[w - 1]
            if r % 2 == 1:
                ob = cc[_vrow(2 * i * (hp // 2) + r // 2, cb_bands)]
                orr = cc[_vrow((2 * i + 1) * (hp // 2) + r // 2, cb_bands)]
                for c in range(wp // 2):
                    bias = _F1 if c % 2 == 0 else _F2
                    ob[c] = np.floor((row[0, 2 * c] + row[0, 2 * c + 1] + row[2, 2 * c] + row[2, 2 * c + 1] + bias)
                                     * _QUARTER)
                    orr[c] = np.floor((row[1, 2 * c] + row[1, 2 * c + 1] + row[3, 2 * c] + row[3, 2 * c + 1] + bias)
                                      * _QUARTER)
    return bad


@_jit
def _ycc_to_rgb(y, cc, hh, out):
    """``h2v2_fancy_upsample`` of the decoded chroma and ``ycc_rgb_convert`` (16-bit fixed point,
    clamped) of y and cc (rows v-major, ``_vrow``) into out (float32 N×3×H×W, level / 255 as
    torch's ``div_(255)``, IEEE division); hh: a Hp × Wp float32 buffer.

    libjpeg filters the columns (s = 3·near + far), then the rows ((3·s + left + 8) >> 4 at even,
    (3·s + right + 7) >> 4 at odd outputs, edges replicated); both are linear up to the one shift,
    exact in float32 (integers below 2^16), so the rows are filtered first, once per chroma row
    (hh: 3·x + left, 3·x + right), and the columns inside the conversion's own loop."""
    n, _, h, w = out.shape
    hs, ws = cc.shape[0] // (2 * n), cc.shape[1]
    hp, yb, cb_bands = y.shape[0] // n, y.shape[0] // 8, cc.shape[0] // 8
    xp = np.empty(ws + 2, np.float32)  # a chroma row with its edge samples repeated once either side
    bias = np.empty(2 * ws, np.float32)
    for c in range(ws):
        bias[2 * c], bias[2 * c + 1] = _F8, _F7
    for i in range(n):
        for k in range(2 * hs):  # Cb rows, then Cr rows
            src, hk = cc[_vrow(2 * i * hs + k, cb_bands)], hh[k]
            for c in range(ws):
                xp[c + 1] = src[c]
            xp[0], xp[ws + 1] = xp[1], xp[ws]
            for c in range(ws):  # both outputs of a sample in one loop: LLVM pairs the stores
                hk[2 * c] = _F3 * xp[c + 1] + xp[c]
                hk[2 * c + 1] = _F3 * xp[c + 1] + xp[c + 2]
        for r in range(h):
            ir = r // 2
            nr = max(ir - 1, 0) if r % 2 == 0 else min(ir + 1, hs - 1)
            b0, b1, r0, r1 = hh[ir], hh[nr], hh[hs + ir], hh[hs + nr]
            yr, o0, o1, o2 = y[_vrow(i * hp + r, yb)], out[i, 0, r], out[i, 1, r], out[i, 2, r]
            for c in range(w):
                yy = yr[c]
                b = np.floor((_F3 * b0[c] + b1[c] + bias[c]) * _SIXTEENTH) - _F128
                rr = np.floor((_F3 * r0[c] + r1[c] + bias[c]) * _SIXTEENTH) - _F128
                o0[c] = min(max(yy + np.floor((_CR_R * rr + _HALF16) * _INV16), _F0), _F255) / _F255
                o1[c] = min(max(yy + np.floor((_CB_G * b + _CR_G * rr + _HALF16) * _INV16), _F0), _F255) / _F255
                o2[c] = min(max(yy + np.floor((_CB_B * b + _HALF16) * _INV16), _F0), _F255) / _F255


@_jit
def _level(x, mul):
    """round(x·255) of a float32 sample as the torch path takes it (``torch.mul(x, 255,
    out=float32)``, then to the nearest integer, ties to even); mul = 255 (or 1 for levels)."""
    return np.rint(x * mul)


@_jit
def _grey_in(v, mul, lim, y):
    """Level-shifted samples of grey images v (N×1×H×W float32) into y (N·Hp × Wp, rows v-major),
    edges replicated; whether some value of v is outside [0, lim] or NaN."""
    bad = False
    n, _, h, w = v.shape
    hp, bands = y.shape[0] // n, y.shape[0] // 8
    for i in range(n):
        for r in range(hp):
            src, dst = v[i, 0, min(r, h - 1)], y[_vrow(i * hp + r, bands)]
            for c in range(w):
                x = src[c]
                bad |= not (x >= 0 and x <= lim)
                dst[c] = _level(x, mul) - _F128
            for c in range(w, y.shape[1]):
                dst[c] = dst[w - 1]
    return bad


@_jit
def _grey_out(y, out):
    n, _, h, w = out.shape
    hp, bands = y.shape[0] // n, y.shape[0] // 8
    for i in range(n):
        for r in range(h):
            src, dst = y[_vrow(i * hp + r, bands)], out[i, 0, r]
            for c in range(w):
                dst[c] = src[c] / _F255


def _quant_arrays(table: torch.Tensor) -> tuple:
    """(d/2, (1 + 10^−6)/d, Q) 8×8 float32 for the divisor d = 8·Q of each frequency (``_dq``)."""
    q = table.to(torch.float64).numpy()
    return (np.ascontiguousarray(4 * q, np.float32), np.ascontiguousarray((1 + 1e-6) / (8 * q), np.float32),
            np.ascontiguousarray(q, np.float32))


@_jit
def _jpeg_batch(v, mul, lim, hp, wp, luma, chroma, out):
    """The round trip of images v (N×C×H×W in [0, 1]) into out, a group of images at a time whose
    luma has about _LANES blocks: buffers stay in cache and are reused, the lanes stay long.
    Returns whether some value of v is outside [0, lim] or NaN (out is then incomplete)."""
    n, ch, h, w = v.shape
    group = max(1, _LANES // (hp * wp // 64))
    y = np.empty((group * hp, wp), np.float32)
    cc = np.empty((group * hp, wp // 2), np.float32)  # Cb, Cr planes of hp/2 rows per image
    hh = np.empty((hp, wp), np.float32)  # one image's chroma filtered along its rows
    # the lanes, allocated once (per _code call they were a fresh mmap above glibc's threshold)
    a = np.empty((64, max(_LANES, wp // 8)), np.int32)
    b = np.empty((64, max(_LANES, wp // 8)), np.int32)
    for i0 in range(0, n, group):
        m = min(group, n - i0)
        yg, cg = y[:m * hp], cc[:m * hp]
        if ch == 1:
            if _grey_in(v[i0:i0 + m], mul, lim, yg):
                return True
            _code(yg, luma[0], luma[1], luma[2], a, b)
            _grey_out(yg, out[i0:i0 + m])
        else:
            if _rgb_to_ycc(v[i0:i0 + m], mul, lim, yg, cg):
                return True
            _code(yg, luma[0], luma[1], luma[2], a, b)
            _code(cg, chroma[0], chroma[1], chroma[2], a, b)
            _ycc_to_rgb(yg, cg, hh, out[i0:i0 + m])
    return False


def jpeg_roundtrip(x: torch.Tensor, quality: int, luma: torch.Tensor, chroma: torch.Tensor) -> torch.Tensor:
    """``jpeg.jpeg_roundtrip`` on a CPU batch by the compiled kernels (luma, chroma: the 8×8 tables):
    colour conversion and 4:2:0 subsampling, the DCT passes over the blocks of a group of images
    at once, fancy upsampling and the colour conversion back. Values outside [0, 1] raise
    ``check_images``' error: a float32 batch is checked in the kernel's one read of it, a float64
    one (the kernel sees its levels) first."""
    n, ch, h, w = x.shape
    mcu = 16 if ch == 3 else 8
    f32 = x.dtype == torch.float32
    if not f32:
        check_images(x, allow_2d=False)
    # the torch path's levels: the product in x's type, rounded to float32, then to an integer
    v, mul = as_float32(x, lambda t: torch.mul(t, 255, out=new_buffer(t.shape, t, torch.float32)).round_())
    out = new_buffer(x.shape, x, torch.float32)
    if _jpeg_batch(v, mul, np.float32(1 if f32 else 255), h + (-h) % mcu, w + (-w) % mcu,
                   _quant_arrays(luma), _quant_arrays(chroma), out.numpy()):
        check_images(x, allow_2d=False)  # raises: some value is outside [0, 1] or NaN
    return out.to(x.dtype)
