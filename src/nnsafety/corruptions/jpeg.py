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


@lru_cache(maxsize=64)
def _block_operators_as(quality: int, chroma: bool, dtype: torch.dtype, device: torch.device):
    """``block_operators`` converted once per dtype and device (not on every call)."""
    return tuple(t.to(device, dtype) for t in block_operators(quality, chroma))


@lru_cache(maxsize=16)
def _colour_matrices(dtype: torch.dtype, device: torch.device):
    """The RGB -> YCbCr and CbCr -> RGB matrices as tensors of one dtype and device."""
    return (torch.tensor(_RGB2YCC, dtype=dtype, device=device),
            torch.tensor(_CC2RGB, dtype=dtype, device=device),
            torch.tensor([0.0, 128.0, 128.0], dtype=dtype, device=device).view(1, 3, 1, 1))


def _to_blocks(p: torch.Tensor, shift: float) -> torch.Tensor:
    """(p − shift) of M×H×W planes as rows of 8×8 blocks (…×64): the shift rides on the one copy."""
    m, h, w = p.shape
    out = torch.empty(m, h // 8, w // 8, 8, 8, dtype=p.dtype, device=p.device)
    torch.sub(p.view(m, h // 8, 8, w // 8, 8).permute(0, 1, 3, 2, 4), shift, out=out)
    return out.view(-1, 64)


def _from_blocks(b: torch.Tensor, m: int, h: int, w: int) -> torch.Tensor:
    """The planes of block rows as an M×(H/8)×8×(W/8)×8 strided view (no copy: consumers that
    take an M×H×W plane view it as M×(H/8)×8×(W/8)×8 and read this in place)."""
    return b.view(m, h // 8, w // 8, 8, 8).permute(0, 1, 3, 2, 4)


def _code_blocks(blocks: torch.Tensor, quality: int, chroma: bool, lo: float, hi: float) -> torch.Tensor:
    """Block DCT, quantize (round), dequantize, inverse DCT, round, clamp to [lo, hi]; in place.

    ``torch.round`` (half to even) stands in for libjpeg's half-away-from-zero: the DCT of integer
    samples is irrational, so exact ties do not occur.
    """
    fwd, inv = _block_operators_as(quality, chroma, blocks.dtype, blocks.device)
    coef = torch.mm(blocks, fwd).round_()
    return torch.mm(coef, inv, out=blocks).round_().clamp_(lo, hi)


def _code_plane(p: torch.Tensor, quality: int, chroma: bool) -> torch.Tensor:
    """Code M×H×W planes in 0..255 (H, W % 8 = 0) with the level shift of 128; returned as a
    contiguous plane viewed M×(H/8)×8×(W/8)×8 (the +128 writes it out of block order: one pass)."""
    m, h, w = p.shape
    coded = _code_blocks(_to_blocks(p, 128), quality, chroma, -128, 127)
    out = torch.empty(m, h // 8, 8, w // 8, 8, dtype=p.dtype, device=p.device)
    return torch.add(_from_blocks(coded, m, h, w), 128, out=out)


def _downsample(c: torch.Tensor) -> torch.Tensor:
    """libjpeg ``h2v2_downsample`` of samples stored +128: (sum of 2×2 + bias) >> 2 with the bias
    alternating 1, 2 by column, returned level-shifted (−128: what the DCT takes)."""
    s = c[..., 0::2, 0::2] + c[..., 0::2, 1::2]
    s += c[..., 1::2, 0::2]
    s += c[..., 1::2, 1::2]
    bias = (torch.arange(s.shape[-1], device=c.device) % 2).to(c.dtype) + (1 - 512)  # 4·128 = 512
    return s.add_(bias).div_(4).floor_()


@lru_cache(maxsize=64)
def _triangle_matrix(n: int) -> torch.Tensor:
    """2n×n matrix of libjpeg's fancy upsampling along one axis: output 2i = 3·c[i] + c[i − 1],
    2i + 1 = 3·c[i] + c[i + 1], edges replicated (integer weights: exact in float)."""
    a = torch.zeros(2 * n, n, dtype=torch.float64)
    i = torch.arange(n)
    a[2 * i, i] += 3
    a[2 * i, (i - 1).clamp(min=0)] += 1
    a[2 * i + 1, i] += 3
    a[2 * i + 1, (i + 1).clamp(max=n - 1)] += 1
    return a


def _fancy_upsample(c: torch.Tensor) -> torch.Tensor:
    """libjpeg ``h2v2_fancy_upsample`` on level-shifted samples (M×h×w -> M×2h×2w).

    libjpeg forms the column sums 3·c + neighbour, then (3·sum + neighbour sum + 8) >> 4 for even
    and + 7 for odd output columns: the same as floor((A_h c A_wᵀ + bias) / 16) with the triangle
    matrices A. With +128 samples the result is 128 more (16·128 = 2048 cancels exactly).
    """
    h, w = c.shape[-2:]
    a_h = _triangle_matrix(h).to(c.device, c.dtype)
    a_w = _triangle_matrix(w).to(c.device, c.dtype)
    pre = torch.matmul(a_h, torch.matmul(c, a_w.t()))
    bias = 8 - (torch.arange(2 * w, device=c.device) % 2).to(c.dtype)
    return pre.add_(bias).div_(16).floor_()


# JFIF YCbCr (libjpeg jccolor.c / jdcolor.c)
_RGB2YCC = ((0.299, 0.587, 0.114), (-0.168735892, -0.331264108, 0.5), (0.5, -0.418687589, -0.081312411))
_CC2RGB = ((0.0, 1.402), (-0.344136286, -0.714136286), (1.772, 0.0))


def jpeg_roundtrip(x: torch.Tensor, quality: int) -> torch.Tensor:
    """Encode and decode a batch (N×C×H×W in [0, 1], C = 1 or 3) as JPEG at ``quality``.

    Chroma stays level-shifted (−128) from downsampling to the colour conversion, the luma in
    block layout from the DCT to the final sum: both are exact rewrites of the libjpeg steps.
    """
    n, ch, h, w = x.shape
    dt = torch.float64 if x.dtype == torch.float64 else torch.float32
    q = int(quality)
    mcu = 16 if ch == 3 else 8
    ph, pw = (-h) % mcu, (-w) % mcu
    v = torch.mul(x, 255) if x.dtype == dt else x.to(dt) * 255
    v.round_()
    if ph or pw:
        v = F.pad(v, (0, pw, 0, ph), mode="replicate")
    hp, wp = v.shape[-2:]
    if ch == 1:
        out = torch.empty(n, 1, hp, wp, dtype=dt, device=x.device)
        torch.div(_code_plane(v.reshape(n, hp, wp), q, False), 255, out=out.view(n, *_blocked(hp, wp)))
        return out[..., :h, :w].to(x.dtype)
    m, minv, offset = _colour_matrices(dt, x.device)
    ycc = torch.matmul(m, v.reshape(n, 3, hp * wp)).view(n, 3, hp, wp)
    ycc = ycc.add_(offset).round_()  # + (0, 128, 128): chroma stored +128 as libjpeg
    y = _code_plane(ycc[:, 0], q, False)
    cc = _downsample(ycc[:, 1:]).reshape(n * 2, hp // 2, wp // 2)
    cc = _from_blocks(_code_blocks(_to_blocks(cc, 0), q, True, -128, 127), n * 2, hp // 2, wp // 2)
    cc = _fancy_upsample(cc.reshape(n * 2, hp // 2, wp // 2)).view(n, 2, hp * wp)
    rgb = torch.matmul(minv, cc).round_()
    rgb.view(n, 3, *_blocked(hp, wp)).add_(y.unsqueeze(1))
    return rgb.clamp_(0, 255).div_(255).view(n, 3, hp, wp)[..., :h, :w].to(x.dtype)


def _blocked(h: int, w: int) -> tuple:
    return h // 8, 8, w // 8, 8


# make_cifar_c.py: quality = [80, 65, 58, 50, 40]; make_imagenet_c.py: [25, 18, 15, 10, 7]
@register_corruption("jpeg_compression", cifar=[80, 65, 58, 50, 40], imagenet=[25, 18, 15, 10, 7])
def jpeg_compression(x: torch.Tensor, c: tuple, g) -> torch.Tensor:
    """JPEG round trip at quality c (4:2:0 chroma, IJG tables; see the module docstring)."""
    return jpeg_roundtrip(x, int(c[0]))
