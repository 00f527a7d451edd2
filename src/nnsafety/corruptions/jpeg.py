"""JPEG compression as a real baseline-JPEG round trip in torch, batched, in libjpeg's integer arithmetic.

What PIL's ``save(..., 'JPEG', quality=q)`` + decode does with libjpeg-turbo (``jccolor.c``,
``jcsample.c``, ``jfdctint.c``, ``jcdctmgr.c``, ``jidctint.c``, ``jdsample.c``, ``jdcolor.c``):
1. uint8 RGB -> YCbCr (JFIF) in 16-bit fixed point: Y = (19595 R + 38470 G + 7471 B + 2¹⁵) >> 16,
   Cb, Cr likewise with their ``FIX()`` constants and the +128 offset;
2. chroma 4:2:0 subsampling (PIL's default at every quality): (sum of 2×2 + bias) >> 2 with the
   bias alternating 1, 2 by column (``h2v2_downsample``);
3. the "islow" forward DCT of samples − 128: two 1-D passes (rows, then columns) of the
   Loeffler–Ligtenberg–Moschytz butterfly with 13-bit constants, each pass an exact integer linear
   map followed by a rounding right shift (by 11, then 15 bits; ``DESCALE``);
4. quantization by libjpeg-turbo's reciprocal multiply (``compute_reciprocal``): for the divisor
   d = 8·Q, |coef| = ((|t| + c)·f) >> r with its c, f, r, which is t/d rounded half away from
   zero for every |t| < 2^15 (computed that way, see ``_quantizer_as``), the IJG Annex K tables
   scaled by quality as ``jpeg_set_quality(force_baseline)``;
5. dequantization (coef·Q) and the "islow" inverse DCT: columns, shift by 11, rows, shift by 18,
   + 128, clamped to 0..255 (the SIMD decoder saturates; the C one wraps values beyond ±512,
   which real coefficients do not reach);
6. chroma upsampling with the "fancy" triangle filter (``h2v2_fancy_upsample``:
   (3·near + far + 8 or 7) >> 4 per axis of column sums);
7. YCbCr -> RGB in 16-bit fixed point (``ycc_rgb_convert``), clamped, back to [0, 1] in steps
   of 1/255.
Every step is integer arithmetic carried exactly in floating point (the bounds are at each
step). Grey images are coded as one luminance component, as PIL does for mode "L". Images whose
sides are not multiples of the MCU (16 px colour, 8 px grey) are edge-padded first, as libjpeg
does. Measured against Pillow 13 (libjpeg-turbo 3.2) on real photos in the tests.
"""
from __future__ import annotations

from functools import lru_cache

import torch
import torch.nn.functional as F

from .._validation import check_images
from . import _jit
from ._filters import left_matmul
from .base import register_corruption

# ITU T.81 Annex K.1 / K.2 (the IJG defaults), natural (row-major) order.
LUMA_TABLE = (
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
)
CHROMA_TABLE = (
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99,
    24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
)


@lru_cache(maxsize=64)
def quant_table(base, quality: int) -> torch.Tensor:
    """libjpeg ``jpeg_set_quality(q, force_baseline=TRUE)``: the 8×8 table at quality q."""
    q = min(max(int(quality), 1), 100)
    scale = 5000 // q if q < 50 else 200 - 2 * q
    t = (torch.tensor(base, dtype=torch.int64) * scale + 50) // 100
    return t.clamp(1, 255).view(8, 8).to(torch.float64)


CONST_BITS, PASS1_BITS = 13, 2


def _fix(c: float) -> int:
    return int(c * (1 << CONST_BITS) + 0.5)


def _rotate(p, q):
    """The even part's rotator (LL&M, "sqrt(2)·c6"): z1 + p·FIX(0.765…), z1 − q·FIX(1.847…)
    with z1 = (p + q)·FIX(0.541…); shared by both butterflies."""
    z1 = (p + q) * _fix(0.541196100)
    return z1 + p * _fix(0.765366865), z1 - q * _fix(1.847759065)


def _odd(a, b, c, d):
    """The odd part of both butterflies (LL&M figure 8, cK = cos(Kπ/16)): four inputs, four outputs."""
    z1, z2, z3, z4 = a + d, b + c, a + c, b + d
    z5 = (z3 + z4) * _fix(1.175875602)
    z1, z2 = z1 * -_fix(0.899976223), z2 * -_fix(2.562915447)
    z3, z4 = z3 * -_fix(1.961570560) + z5, z4 * -_fix(0.390180644) + z5
    return (a * _fix(0.298631336) + z1 + z3, b * _fix(2.053119869) + z2 + z4,
            c * _fix(3.072711026) + z2 + z3, d * _fix(1.501321110) + z1 + z4)


def _fdct_1d(d):
    """``jpeg_fdct_islow``'s butterfly on 8 inputs up to its ``DESCALE``: the 8 integer sums, all
    in units of 2^CONST_BITS (outputs 0 and 4, which libjpeg shifts instead, are scaled to match)."""
    t0, t7, t1, t6 = d[0] + d[7], d[0] - d[7], d[1] + d[6], d[1] - d[6]
    t2, t5, t3, t4 = d[2] + d[5], d[2] - d[5], d[3] + d[4], d[3] - d[4]
    t10, t13, t11, t12 = t0 + t3, t0 - t3, t1 + t2, t1 - t2
    out = [0] * 8
    out[0], out[4] = (t10 + t11) << CONST_BITS, (t10 - t11) << CONST_BITS
    out[2], out[6] = _rotate(t13, t12)
    out[7], out[5], out[3], out[1] = _odd(t4, t5, t6, t7)
    return out


def _idct_1d(d):
    """``jpeg_idct_islow``'s butterfly on 8 dequantized inputs up to its ``DESCALE`` (libjpeg's
    all-zero-AC shortcuts give the same values, so they need no branch)."""
    t3, t2 = _rotate(d[2], d[6])
    t0, t1 = (d[0] + d[4]) << CONST_BITS, (d[0] - d[4]) << CONST_BITS
    t10, t13, t11, t12 = t0 + t3, t0 - t3, t1 + t2, t1 - t2
    t0, t1, t2, t3 = _odd(d[7], d[5], d[3], d[1])
    return [t10 + t3, t11 + t2, t12 + t1, t13 + t0, t13 - t0, t12 - t1, t11 - t2, t10 - t3]


@lru_cache(maxsize=1)
def islow_matrices() -> tuple:
    """(forward, inverse) 8×8 integer matrices of the two butterflies (columns: unit inputs):
    each 1-D pass is exactly ``DESCALE(M @ v, bits)``, so a pass over many rows is one GEMM."""
    eye = [[int(i == j) for j in range(8)] for i in range(8)]
    fwd = torch.tensor([_fdct_1d(e) for e in eye], dtype=torch.float64).t()
    inv = torch.tensor([_idct_1d(e) for e in eye], dtype=torch.float64).t()
    return fwd, inv


# Bias of the quantizer's division: |t/d|·η stays below 1/d for every |t| <= 2^13 (see _quantizer_as)
_QUANT_ETA = 1e-6


@lru_cache(maxsize=16)
def _pass_matrices(device: torch.device) -> tuple:
    """The butterflies with each pass's ``DESCALE`` divisor folded in: a power of two, so
    ``floor(rows @ M'ᵀ + 0.5)`` is exactly ``DESCALE(rows @ Mᵀ)``. The forward row pass is float32:
    its inputs are integers in −128..127 and each row's |coefficients| sum to at most 2^16, so
    every partial sum (the ½ included) is a multiple of 2^−11 below 2^12 in magnitude (24 bits:
    exact in any summation order); the other passes reach 2^40 and run in float64."""
    fwd, inv = islow_matrices()
    return (fwd.mul(2.0 ** -(CONST_BITS - PASS1_BITS)).to(device, torch.float32),
            fwd.mul(2.0 ** -(CONST_BITS + PASS1_BITS)).to(device),
            inv.mul(2.0 ** -(CONST_BITS - PASS1_BITS)).to(device),
            inv.mul(2.0 ** -(CONST_BITS + PASS1_BITS + 3)).to(device))


@lru_cache(maxsize=64)
def _quantizer_as(quality: int, chroma: bool, device: torch.device) -> tuple:
    """((1 + η)/(8·Q), Q), float64 shaped 8×1×8 (frequency v, block, u) for ``_code_plane``.

    libjpeg-turbo divides a coefficient t (×8) by d = 8·Q with ``compute_reciprocal``'s
    multiply-and-shift, which equals floor((|t| + d/2)/d) for every |t| < 2^15 (checked for all
    256 divisors in the tests): t/d rounded half away from zero. ``round`` (half to even) of
    t·(1 + η)/d gives exactly that: t/d is a multiple of 1/d, so it is a tie or >= 1/d from one
    (d is even), and the bias |t/d|·η (< 2^13·10^−6/d) pushes ties away from zero and nothing else
    across a boundary. The forward DCT bounds |t| by 64·128 = 2^13.
    """
    q = quant_table(CHROMA_TABLE if chroma else LUMA_TABLE, quality)
    return tuple(t.view(8, 1, 8).to(device) for t in ((1 + _QUANT_ETA) / (8 * q), q))


def _code_plane(p: torch.Tensor, quality: int, chroma: bool) -> torch.Tensor:
    """islow FDCT, quantize, dequantize, islow IDCT of M×H×W planes of level-shifted samples
    (float32, −128..127, H, W % 8 = 0); returns the decoded planes, 0..255, float32.

    Everything stays in the image layout, no blocking copies: a row pass is one GEMM over the
    rows of 8 samples (``(M·H·W/8)×8 @ 8×8``), a column pass one batched 8×8 left product per
    band of 8 image rows (``8×8 @ 8×W``), and the quantization tables broadcast as 8×1×8 over
    (v, block, u). Bounds: see ``_pass_matrices``; the float64 passes stay below 2^40, exact.
    The inverse butterflies weigh the DC input (u or v = 0) by 2^13 for every output, so the
    inverse passes' rounding offsets (and the +128 of the output) are added to the DC inputs
    only: one value in 8 instead of all 8 outputs.
    """
    m, h, w = p.shape
    f1, f2, i1, i2 = _pass_matrices(p.device)
    step, q = _quantizer_as(quality, chroma, p.device)
    half = torch.full((8,), 0.5, dtype=p.dtype, device=p.device)
    rows = torch.addmm(half, p.reshape(-1, 8), f1.t())
    a = torch.empty(m * h // 8, 8, w, dtype=torch.float64, device=p.device)
    a.view(-1, 8).copy_(rows.floor_())
    t = left_matmul(f2, a).add_(0.5).floor_()  # coefficients ×8: (v, u) at image (8·by + v, 8·bx + u)
    coef = torch.mul(t.view(-1, 8, w // 8, 8), step, out=a.view(-1, 8, w // 8, 8)).round_().mul_(q)
    coef = coef.view(-1, 8, w)
    coef[:, 0].add_(2.0 ** -(PASS1_BITS + 1))  # i1's DC weight 2^13·2^−11 = 4: +⅛ gives +½
    cols = torch.bmm(i1.expand(coef.shape[0], 8, 8), coef, out=t).floor_()
    # i2's DC weight 2^13·2^−18 = 1/32: + 32·128½ gives the rounding ½ and the +128 offset
    cols.view(-1, w // 8, 8)[..., 0].add_(32 * 128.5)
    out = torch.mm(cols.view(-1, 8), i2.t(), out=a.view(-1, 8)).floor_()
    return rows.copy_(out).clamp_(0, 255).view(m, h, w)


@lru_cache(maxsize=32)
def _resample_matrices(n: int, device: torch.device) -> tuple:
    """Along one axis of n samples: the n/2×n pair-mean matrix of ``h2v2_downsample`` (½, ½) and
    the 2n×n triangle filter of ``h2v2_fancy_upsample`` (¾ near, ¼ far, edges replicated).
    Both are powers of two times small integers: products with samples are exact in float32."""
    down = torch.zeros(n // 2, n)
    idx = torch.arange(n // 2)
    down[idx, 2 * idx] = down[idx, 2 * idx + 1] = 0.5
    up = torch.zeros(2 * n, n)
    i = torch.arange(n)
    up[2 * i, i] = up[2 * i + 1, i] = 0.75
    up[2 * i, (i - 1).clamp(min=0)] += 0.25
    up[2 * i + 1, (i + 1).clamp(max=n - 1)] += 0.25
    return down.to(device), up.to(device)


_SMALL = 64  # planes up to this side resample by two small GEMMs; larger ones by strided adds / bilinear


def _downsample(c: torch.Tensor) -> torch.Tensor:
    """libjpeg ``h2v2_downsample``: (sum of 2×2 + bias) >> 2, the bias alternating 1, 2 by column
    (samples stored −128 give the result −128: 4·128 is a multiple of 4)."""
    h, w = c.shape[-2:]
    bias = (torch.arange(w // 2, device=c.device) % 2).to(c.dtype).add_(1).mul_(0.25)
    if max(h, w) <= _SMALL:  # the mean of the 2×2 (exact: quarters of integers below 2^10)
        s = left_matmul(_resample_matrices(h, c.device)[0], torch.matmul(c, _resample_matrices(w, c.device)[0].t()))
        return s.add_(bias).floor_()
    s = c[..., 0::2, 0::2] + c[..., 0::2, 1::2]
    s += c[..., 1::2, 0::2]
    s += c[..., 1::2, 1::2]
    return s.mul_(0.25).add_(bias).floor_()


def _fancy_upsample(c: torch.Tensor) -> torch.Tensor:
    """libjpeg ``h2v2_fancy_upsample`` (M×h×w -> M×2h×2w): column sums 3·c + the row above (even
    output rows) or below (odd), then (3·sum + left neighbour + 8) >> 4 for even and
    (3·sum + right neighbour + 7) >> 4 for odd output columns; edges replicated.

    The linear part ÷16 is the separable ¾/¼ triangle filter, which is also exactly torch's
    bilinear ×2 upsampling (half-pixel centres, edge clamp): sixteenths of integers below 2^12,
    exact in float32 whatever the summation order. Then + 8/16 or 7/16 and floor.
    """
    m, h, w = c.shape
    bias = torch.tensor([0.5, 7 / 16], dtype=c.dtype, device=c.device).repeat(w)
    if max(h, w) <= _SMALL:
        up_h, up_w = _resample_matrices(h, c.device)[1], _resample_matrices(w, c.device)[1]
        s = left_matmul(up_h, torch.matmul(c, up_w.t()))
    else:
        s = F.interpolate(c.unsqueeze(1), size=(2 * h, 2 * w), mode="bilinear", align_corners=False).squeeze(1)
    return s.add_(bias).floor_()


# jccolor.c / jdcolor.c: FIX(x) = round(x·2^16); the 0.5 and the 128 offsets folded in
_RGB2YCC = ((19595, 38470, 7471), (-11059, -21709, 32768), (32768, -27439, -5329))
_YCC_OFFSET = (32768, (128 << 16) + 32767, (128 << 16) + 32767)
_CC2RGB = ((0, 91881), (-22554, -46802), (116130, 0))


def jpeg_roundtrip(x: torch.Tensor, quality: int) -> torch.Tensor:
    """Encode and decode a batch (N×C×H×W in [0, 1], C = 1 or 3) as JPEG at ``quality``.

    CPU batches run the compiled kernel of ``_jit_jpeg`` where numba is installed (the same pixels,
    tested), everything else ``jpeg_roundtrip_torch``. Values outside [0, 1] raise
    ``check_images``' error on both paths (the kernel checks in its one read of x).
    """
    if _jit.usable(x):
        from . import _jit_jpeg  # imports numba: only once it is known to be there
        q = int(quality)
        return _jit_jpeg.jpeg_roundtrip(x, q, quant_table(LUMA_TABLE, q), quant_table(CHROMA_TABLE, q))
    check_images(x, allow_2d=False)
    return jpeg_roundtrip_torch(x, quality)


def jpeg_roundtrip_torch(x: torch.Tensor, quality: int) -> torch.Tensor:
    """``jpeg_roundtrip`` in torch ops, batched, any device: the reference of the compiled kernel.

    Colour conversion and resampling run in float32 on integers whose sums stay below 2^24, the
    DCT partly in float64 (``_code_plane``): every step is exact.
    """
    n, ch, h, w = x.shape
    dt, dev = torch.float32, x.device
    q = int(quality)
    mcu = 16 if ch == 3 else 8
    ph, pw = (-h) % mcu, (-w) % mcu
    v = torch.mul(x, 255, out=torch.empty(x.shape, dtype=dt, device=dev)).round_()
    if ph or pw:
        v = F.pad(v, (0, pw, 0, ph), mode="replicate")
    hp, wp = v.shape[-2:]
    if ch == 1:
        out = _code_plane(v.view(n, hp, wp).sub_(128), q, False).view(n, 1, hp, wp)
        return out.div_(255)[..., :h, :w].to(x.dtype)
    m = torch.tensor(_RGB2YCC, dtype=dt, device=dev).mul_(2.0 ** -16)
    off = torch.tensor(_YCC_OFFSET, dtype=dt, device=dev).sub_(128 << 16).mul_(2.0 ** -16)
    # level-shifted Y, Cb, Cr (−128): the 16-bit sums are integers below 2^24, exact in float32
    ycc = left_matmul(m, v.view(n, 3, hp * wp)).add_(off.view(1, 3, 1)).floor_().view(n, 3, hp, wp)
    y = _code_plane(ycc[:, 0], q, False)
    cc = _code_plane(_downsample(ycc[:, 1:]).reshape(n * 2, hp // 2, wp // 2), q, True)
    cc = _fancy_upsample(cc.sub_(128)).view(n, 2, hp * wp)
    minv = torch.tensor(_CC2RGB, dtype=dt, device=dev).mul_(2.0 ** -16)
    rgb = left_matmul(minv, cc).add_(0.5).floor_().view(n, 3, hp, wp)
    rgb += y.unsqueeze(1)
    return rgb.clamp_(0, 255).div_(255)[..., :h, :w].to(x.dtype)


# make_cifar_c.py: quality = [80, 65, 58, 50, 40]; make_imagenet_c.py: [25, 18, 15, 10, 7]
# checks_range: jpeg_roundtrip raises check_images' error itself (the kernel in its one read of x)
@register_corruption("jpeg_compression", cifar=[80, 65, 58, 50, 40], imagenet=[25, 18, 15, 10, 7],
                     in_range=True, checks_range=True)
def jpeg_compression(x: torch.Tensor, c: tuple, g) -> torch.Tensor:
    """JPEG round trip at quality c (4:2:0 chroma, IJG tables; see the module docstring)."""
    return jpeg_roundtrip(x, int(c[0]))
