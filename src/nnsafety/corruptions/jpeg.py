"""JPEG compression as a real baseline-JPEG round trip in torch, batched (libjpeg's arithmetic).

What PIL's ``save(..., 'JPEG', quality=q)`` + decode does, step by step (libjpeg/IJG):
1. uint8 RGB -> YCbCr (JFIF, full range, rounded);
2. chroma 4:2:0 subsampling (PIL's default at every quality): 2×2 averages with libjpeg's
   alternating rounding bias 1, 2 (``h2v2_downsample``);
3. 8×8 block DCT (orthonormal DCT-II as a matrix product, = JPEG's definition) of samples − 128;
4. quantization with the IJG Annex K tables scaled by quality as ``jpeg_set_quality`` does
   (q < 50: 5000/q %, else 200 − 2q %, entries clamped to 1..255 for baseline), rounded half away
   from zero, then dequantized;
5. inverse DCT, + 128, rounded and clamped to 0..255;
6. chroma upsampling with libjpeg's default "fancy" triangle filter (``h2v2_fancy_upsample``,
   weights 3/4, 1/4 per axis with its integer rounding);
7. YCbCr -> RGB with libjpeg's rounding, clamped, back to [0, 1] in steps of 1/255.
Grey images are coded as one luminance component, as PIL does for mode "L". Images whose sides
are not multiples of the MCU (16 px colour, 8 px grey) are edge-padded first. Remaining
differences from libjpeg: the DCT is exact floating point instead of libjpeg's 13-bit integer
``jpeg_fdct_islow``/``jpeg_idct_islow``, which moves a coefficient across a rounding boundary now
and then (a 1-level difference in a few pixels); measured against PIL in the tests.
"""
from __future__ import annotations

import math
from functools import lru_cache

import torch
import torch.nn.functional as F

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


@lru_cache(maxsize=1)
def dct_matrix() -> torch.Tensor:
    """Orthonormal 8-point DCT-II: D[u, x] = α(u) cos((2x + 1)uπ / 16)."""
    u = torch.arange(8, dtype=torch.float64).view(8, 1)
    x = torch.arange(8, dtype=torch.float64).view(1, 8)
    d = torch.cos((2 * x + 1) * u * math.pi / 16) * math.sqrt(2 / 8)
    d[0] *= 1 / math.sqrt(2)
    return d


@lru_cache(maxsize=64)
def block_operators(quality: int, chroma: bool):
    """(forward, inverse) 64×64 operators of one 8×8 block: DCT then ÷Q, and ×Q then inverse DCT.

    With blocks as rows b (…×64, row-major 8×8), coef/Q = b @ F and the decoded block = round(coef/Q) @ G,
    where F = (D ⊗ D)ᵀ diag(1/Q) and G = diag(Q) (D ⊗ D): one GEMM each way for the whole batch.
    """
    d2 = torch.kron(dct_matrix(), dct_matrix())  # (u·8+v) × (y·8+x)
    q = quant_table(CHROMA_TABLE if chroma else LUMA_TABLE, quality).reshape(64)
    return d2.t() / q.view(1, 64), q.view(64, 1) * d2


def _code_plane(p: torch.Tensor, quality: int, chroma: bool) -> torch.Tensor:
    """Block DCT, quantize (round), dequantize, inverse DCT of M×H×W planes in 0..255 (H, W % 8 = 0).

    ``torch.round`` (half to even) stands in for libjpeg's half-away-from-zero: the DCT of integer
    samples is irrational, so exact ties do not occur.
    """
    m, h, w = p.shape
    fwd, inv = (t.to(p.device, p.dtype) for t in block_operators(quality, chroma))
    blocks = (p - 128).view(m, h // 8, 8, w // 8, 8).permute(0, 1, 3, 2, 4).reshape(-1, 64)
    back = torch.round(blocks @ fwd) @ inv
    back = back.view(m, h // 8, w // 8, 8, 8).permute(0, 1, 3, 2, 4).reshape(m, h, w)
    return back.round_().add_(128).clamp_(0, 255)


def _downsample(c: torch.Tensor) -> torch.Tensor:
    """libjpeg ``h2v2_downsample``: (sum of 2×2 + bias) >> 2, bias alternating 1, 2 by column."""
    s = c[..., 0::2, 0::2] + c[..., 0::2, 1::2] + c[..., 1::2, 0::2] + c[..., 1::2, 1::2]
    bias = 1 + (torch.arange(s.shape[-1], device=c.device) % 2).to(c.dtype)
    return torch.floor((s + bias) / 4)


def _fancy_upsample(c: torch.Tensor) -> torch.Tensor:
    """libjpeg ``h2v2_fancy_upsample``: separable triangle filter with its integer rounding."""
    up = torch.cat([c[..., :1, :], c[..., :-1, :]], dim=-2)
    down = torch.cat([c[..., 1:, :], c[..., -1:, :]], dim=-2)
    rows = torch.stack([3 * c + up, 3 * c + down], dim=-2).flatten(-3, -2)  # colsums, 2H × W
    left = torch.cat([rows[..., :1], rows[..., :-1]], dim=-1)
    right = torch.cat([rows[..., 1:], rows[..., -1:]], dim=-1)
    even = torch.floor((3 * rows + left + 8) / 16)
    odd = torch.floor((3 * rows + right + 7) / 16)
    return torch.stack([even, odd], dim=-1).flatten(-2, -1)


# JFIF YCbCr (libjpeg jccolor.c / jdcolor.c)
_RGB2YCC = ((0.299, 0.587, 0.114), (-0.168735892, -0.331264108, 0.5), (0.5, -0.418687589, -0.081312411))
_CC2RGB = ((0.0, 1.402), (-0.344136286, -0.714136286), (1.772, 0.0))


def jpeg_roundtrip(x: torch.Tensor, quality: int) -> torch.Tensor:
    """Encode and decode a batch (N×C×H×W in [0, 1], C = 1 or 3) as JPEG at ``quality``."""
    n, ch, h, w = x.shape
    dt = torch.float64 if x.dtype == torch.float64 else torch.float32
    q = int(quality)
    mcu = 16 if ch == 3 else 8
    ph, pw = (-h) % mcu, (-w) % mcu
    v = torch.round(x.to(dt) * 255)
    if ph or pw:
        v = F.pad(v, (0, pw, 0, ph), mode="replicate")
    hp, wp = v.shape[-2:]
    if ch == 1:
        return (_code_plane(v.reshape(n, hp, wp), q, False) / 255).view(n, 1, hp, wp)[..., :h, :w].to(x.dtype)
    m = torch.tensor(_RGB2YCC, dtype=dt, device=x.device)
    ycc = torch.matmul(m, v.reshape(n, 3, hp * wp)).view(n, 3, hp, wp)
    ycc[:, 1:] += 128
    ycc = ycc.round_()
    y = _code_plane(ycc[:, 0], q, False)
    cc = _downsample(ycc[:, 1:]).reshape(n * 2, hp // 2, wp // 2)
    cc = _fancy_upsample(_code_plane(cc, q, True)).view(n, 2, hp * wp) - 128
    minv = torch.tensor(_CC2RGB, dtype=dt, device=x.device)
    rgb = torch.matmul(minv, cc).round_().view(n, 3, hp, wp) + y.unsqueeze(1)
    return (rgb.clamp_(0, 255) / 255)[..., :h, :w].to(x.dtype)


# make_cifar_c.py: quality = [80, 65, 58, 50, 40]; make_imagenet_c.py: [25, 18, 15, 10, 7]
@register_corruption("jpeg_compression", cifar=[80, 65, 58, 50, 40], imagenet=[25, 18, 15, 10, 7])
def jpeg_compression(x: torch.Tensor, c: tuple, g) -> torch.Tensor:
    """JPEG round trip at quality c (4:2:0 chroma, IJG tables; see the module docstring)."""
    return jpeg_roundtrip(x, int(c[0]))
