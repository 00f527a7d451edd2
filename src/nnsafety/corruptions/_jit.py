"""Optional compiled kernels (numba) for the two corruptions that Pillow does in C: JPEG and pixelate.

The torch forms (``jpeg.py``, ``digital.pixelate``) are the reference and the fallback; these
kernels compute the same integers in the same order (libjpeg-turbo's ``jccolor.c``,
``jcsample.c``, ``jfdctint.c``, ``jcdctmgr.c``, ``jidctint.c``, ``jdsample.c``, ``jdcolor.c``;
Pillow's ``Resample.c``) one image at a time in 64-bit integers, so their outputs are equal to
the torch path's on every pixel (tested) without the ~50 batch-wide passes that exactness costs in
torch. JPEG skips the Huffman coding Pillow does: it is lossless, so the pixels do not depend on it.

numba is the optional extra ``fast`` (the PyPI package numba; ``make install`` installs it). Without
it, or on a GPU tensor, or with ``NNSAFETY_JIT=0`` in the environment, the torch path runs; a
missing numba is said once per process (``CompiledPathWarning``). Kernels are compiled on first use
(a few seconds, cached on disk by numba for later processes).
"""
from __future__ import annotations

import os
import warnings

import numpy as np
import torch

try:
    import numba
except ImportError:  # the optional extra "fast" is not installed: the torch path runs
    numba = None


class CompiledPathWarning(UserWarning):
    """The compiled kernels are unavailable, so the (slower, identical) torch path runs."""


_said = False


def usable(x: torch.Tensor) -> bool:
    """Whether the compiled kernels run for x: a CPU tensor, numba importable, not disabled."""
    global _said
    if x.device.type != "cpu" or os.environ.get("NNSAFETY_JIT", "1") == "0":
        return False
    if numba is None:
        if not _said:
            _said = True
            warnings.warn("numba is not installed (optional extra 'fast'): jpeg_compression and "
                          "pixelate run on their torch path (same pixels, slower on CPU)",
                          CompiledPathWarning, stacklevel=3)
        return False
    return True


def _jit(fn):
    return numba.njit(cache=True, nogil=True)(fn) if numba is not None else fn


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


@_jit
def _code_plane(p, ws, qhalf, qrecip, qval):
    """islow FDCT, quantize, dequantize, islow IDCT of one plane in place (int64, level-shifted
    samples in, decoded samples 0..255 out; sides multiples of 8). Quantization: |t| + d/2 times
    qrecip = floor(2^32/d) + 1, >> 32, which is floor((|t| + d/2)/d) for |t| + d/2 < 2^16 and
    d < 2^11 (error a·e/2^32 < 1/d with e <= d): t/d rounded half away from zero, as
    ``compute_reciprocal``'s multiply is (``jpeg._quantizer_as``)."""
    h, w = p.shape
    for by in range(0, h, 8):
        for bx in range(0, w, 8):
            for r in range(8):  # forward, rows: DESCALE by CONST_BITS − PASS1_BITS
                d = p[by + r, bx:bx + 8]
                t0, t7, t1, t6 = d[0] + d[7], d[0] - d[7], d[1] + d[6], d[1] - d[6]
                t2, t5, t3, t4 = d[2] + d[5], d[2] - d[5], d[3] + d[4], d[3] - d[4]
                t10, t13, t11, t12 = t0 + t3, t0 - t3, t1 + t2, t1 - t2
                o = ws[r]
                o[0], o[4] = (t10 + t11) << P1, (t10 - t11) << P1
                z1 = (t12 + t13) * F0541
                o[2] = (z1 + t13 * F0765 + (1 << 10)) >> 11
                o[6] = (z1 - t12 * F1847 + (1 << 10)) >> 11
                a, b, c, e = _odd(t4, t5, t6, t7)
                o[7], o[5] = (a + (1 << 10)) >> 11, (b + (1 << 10)) >> 11
                o[3], o[1] = (c + (1 << 10)) >> 11, (e + (1 << 10)) >> 11
            for u in range(8):  # forward, columns (÷ 2^2 and 2^15), quantize, dequantize
                d = ws[:, u]
                t0, t7, t1, t6 = d[0] + d[7], d[0] - d[7], d[1] + d[6], d[1] - d[6]
                t2, t5, t3, t4 = d[2] + d[5], d[2] - d[5], d[3] + d[4], d[3] - d[4]
                t10, t13, t11, t12 = t0 + t3, t0 - t3, t1 + t2, t1 - t2
                z1 = (t12 + t13) * F0541
                a, b, c, e = _odd(t4, t5, t6, t7)
                co = ((t10 + t11 + 2) >> 2, (e + (1 << 14)) >> 15,
                      (z1 + t13 * F0765 + (1 << 14)) >> 15, (c + (1 << 14)) >> 15,
                      (t10 - t11 + 2) >> 2, (b + (1 << 14)) >> 15,
                      (z1 - t12 * F1847 + (1 << 14)) >> 15, (a + (1 << 14)) >> 15)
                for v in range(8):
                    t = co[v]
                    k = ((abs(t) + qhalf[v, u]) * qrecip[v, u]) >> 32
                    d[v] = (k if t >= 0 else -k) * qval[v, u]
            for u in range(8):  # inverse, columns: DESCALE by CONST_BITS − PASS1_BITS
                d = ws[:, u]
                z1 = (d[2] + d[6]) * F0541
                t2, t3 = z1 - d[6] * F1847, z1 + d[2] * F0765
                t0, t1 = (d[0] + d[4]) << CB, (d[0] - d[4]) << CB
                t10, t13, t11, t12 = t0 + t3, t0 - t3, t1 + t2, t1 - t2
                a, b, c, e = _odd(d[7], d[5], d[3], d[1])
                d[0], d[7] = (t10 + e + (1 << 10)) >> 11, (t10 - e + (1 << 10)) >> 11
                d[1], d[6] = (t11 + c + (1 << 10)) >> 11, (t11 - c + (1 << 10)) >> 11
                d[2], d[5] = (t12 + b + (1 << 10)) >> 11, (t12 - b + (1 << 10)) >> 11
                d[3], d[4] = (t13 + a + (1 << 10)) >> 11, (t13 - a + (1 << 10)) >> 11
            for r in range(8):  # inverse, rows: DESCALE by CONST_BITS + PASS1_BITS + 3, +128, clamp
                d = ws[r]
                z1 = (d[2] + d[6]) * F0541
                t2, t3 = z1 - d[6] * F1847, z1 + d[2] * F0765
                t0, t1 = (d[0] + d[4]) << CB, (d[0] - d[4]) << CB
                t10, t13, t11, t12 = t0 + t3, t0 - t3, t1 + t2, t1 - t2
                a, b, c, e = _odd(d[7], d[5], d[3], d[1])
                o = p[by + r, bx:bx + 8]
                o[0], o[7] = t10 + e, t10 - e
                o[1], o[6] = t11 + c, t11 - c
                o[2], o[5] = t12 + b, t12 - b
                o[3], o[4] = t13 + a, t13 - a
                for k in range(8):
                    o[k] = min(max(((o[k] + (1 << 17)) >> 18) + 128, 0), 255)


@_jit
def _jpeg_images(v, hp, wp, luma, chroma, lut, out):
    """JPEG round trip of uint8 images v (N×C×H×W, C = 1 or 3) into out (float32, via lut):
    edge padding to the MCU, colour conversion, 4:2:0 subsampling, coding, fancy upsampling."""
    n, ch, h, w = v.shape
    ws = np.empty((8, 8), np.int64)
    y = np.empty((hp, wp), np.int64)
    hs, wsub = hp // 2, wp // 2
    cb, cr = np.empty((hs, wsub), np.int64), np.empty((hs, wsub), np.int64)
    row = np.empty((3, wp), np.int64)
    sb, sr = np.empty(wsub, np.int64), np.empty(wsub, np.int64)
    for i in range(n):
        if ch == 1:
            for r in range(hp):
                src = v[i, 0, min(r, h - 1)]
                for c in range(wp):
                    y[r, c] = np.int64(src[min(c, w - 1)]) - 128
            _code_plane(y, ws, *luma)
            for r in range(h):
                for c in range(w):
                    out[i, 0, r, c] = lut[y[r, c]]
            continue
        for r in range(hp):  # jccolor.c: 16-bit fixed point, +½ and the 128 offsets folded in
            rr = min(r, h - 1)
            for c in range(wp):
                cc = min(c, w - 1)
                R, G, B = np.int64(v[i, 0, rr, cc]), np.int64(v[i, 1, rr, cc]), np.int64(v[i, 2, rr, cc])
                y[r, c] = ((19595 * R + 38470 * G + 7471 * B + 32768) >> 16) - 128
                row[1, c] = (-11059 * R - 21709 * G + 32768 * B + 32767) >> 16
                row[2, c] = (32768 * R - 27439 * G - 5329 * B + 32767) >> 16
            if r % 2 == 0:
                for c in range(wsub):
                    sb[c], sr[c] = row[1, 2 * c] + row[1, 2 * c + 1], row[2, 2 * c] + row[2, 2 * c + 1]
            else:  # h2v2_downsample: (2×2 sum + 1 or 2 alternating by column) >> 2
                for c in range(wsub):
                    bias = 1 + (c & 1)
                    cb[r // 2, c] = (sb[c] + row[1, 2 * c] + row[1, 2 * c + 1] + bias) >> 2
                    cr[r // 2, c] = (sr[c] + row[2, 2 * c] + row[2, 2 * c + 1] + bias) >> 2
        _code_plane(y, ws, *luma)
        _code_plane(cb, ws, *chroma)
        _code_plane(cr, ws, *chroma)
        for r in range(h):  # h2v2_fancy_upsample fused with jdcolor.c's ycc_rgb_convert
            ir = r // 2
            nr = max(ir - 1, 0) if r % 2 == 0 else min(ir + 1, hs - 1)
            for c in range(wsub):  # column sums: 3·nearer row + farther row
                sb[c] = 3 * cb[ir, c] + cb[nr, c]
                sr[c] = 3 * cr[ir, c] + cr[nr, c]
            for c in range(w):
                j = c // 2
                k = max(j - 1, 0) if c % 2 == 0 else min(j + 1, wsub - 1)
                rnd = 8 if c % 2 == 0 else 7
                ub = ((3 * sb[j] + sb[k] + rnd) >> 4) - 128
                ur = ((3 * sr[j] + sr[k] + rnd) >> 4) - 128
                yy = y[r, c]
                out[i, 0, r, c] = lut[min(max(yy + ((91881 * ur + 32768) >> 16), 0), 255)]
                out[i, 1, r, c] = lut[min(max(yy + ((-22554 * ub - 46802 * ur + 32768) >> 16), 0), 255)]
                out[i, 2, r, c] = lut[min(max(yy + ((116130 * ub + 32768) >> 16), 0), 255)]


def _quant_arrays(table: torch.Tensor) -> tuple:
    """(d/2, floor(2^32/d) + 1, Q) as int64 8×8 for the divisor d = 8·Q of each frequency."""
    q = table.to(torch.int64).numpy()
    d = 8 * q
    return np.ascontiguousarray(d // 2), np.ascontiguousarray((1 << 32) // d + 1), np.ascontiguousarray(q)


def _levels(x: torch.Tensor, dtype: torch.dtype) -> np.ndarray:
    """round(x·255) in ``dtype`` as the torch paths compute it, as contiguous uint8 (x in [0, 1])."""
    v = torch.mul(x, 255, out=torch.empty(x.shape, dtype=dtype)).round_()
    return v.to(torch.uint8).contiguous().numpy()


def _unit_lut() -> np.ndarray:
    """level/255 in float32 as the torch paths divide (``div_(255)``)."""
    return torch.arange(256, dtype=torch.float32).div_(255).numpy()


def jpeg_roundtrip(x: torch.Tensor, quality: int, luma: torch.Tensor, chroma: torch.Tensor) -> torch.Tensor:
    """``jpeg.jpeg_roundtrip`` on a CPU batch by the compiled kernel (luma, chroma: the 8×8 tables)."""
    n, ch, h, w = x.shape
    mcu = 16 if ch == 3 else 8
    out = torch.empty(x.shape, dtype=torch.float32)
    _jpeg_images(_levels(x, torch.float32), h + (-h) % mcu, w + (-w) % mcu, _quant_arrays(luma),
                 _quant_arrays(chroma), _unit_lut(), out.numpy())
    return out.to(x.dtype)
