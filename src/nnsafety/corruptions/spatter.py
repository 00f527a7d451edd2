"""Spatter: water drops (severities with c5 = 0) or mud (c5 = 1) on the lens.

Parameters: CIFAR-10-C from ``make_cifar_c.py``, ImageNet-C from ``make_imagenet_c.py``
(github.com/hendrycks/robustness, ``ImageNet-C/create_c/``). The water branch runs OpenCV's
Canny edge detector, a distance transform, histogram equalization and an emboss filter on the
drop mask; batched torch versions of these follow (OpenCV 4 semantics, see each docstring).
"""
from __future__ import annotations

import math
from functools import lru_cache

import torch
import torch.nn.functional as F

from . import _filters as flt, _jit
from .base import colour, randn, register_corruption

_EMBOSS = torch.tensor([[-2.0, -1, 0], [-1, 1, 1], [0, 1, 2]], dtype=torch.float64)
_TAN22 = 13573 / 32768  # OpenCV's fixed-point tan(22.5°) (exact in float32)


@lru_cache(maxsize=16)
def _interior(h: int, w: int, device: torch.device) -> torch.Tensor:
    """int16 (h+4)·(w+4) mask of the h×w core of a 2-px padded image (flat)."""
    m = torch.zeros(h + 4, w + 4, dtype=torch.int16, device=device)
    m[2:2 + h, 2:2 + w] = 1
    return m.view(-1)


def _cmp16(op, a: torch.Tensor, b) -> torch.Tensor:
    """A comparison as an int16 0/1 mask: on CPU a bool result costs ~8× more than int16 out."""
    return op(a, b, out=torch.empty(a.shape, dtype=torch.int16, device=a.device))


def canny(img: torch.Tensor, low: float = 50, high: float = 150) -> torch.Tensor:
    """``cv2.Canny(img, low, high)`` (aperture 3, L1 magnitude) on N×1×H×W 0..255; bool edges.

    Sobel with replicated borders; non-maximum suppression along the gradient direction quantized
    by OpenCV's tan 22.5° / tan 67.5° tests (strict on one side, >= on the other as OpenCV);
    hysteresis grows edges from magnitudes > high through 8-connected maxima > low.
    Layout: the batch edge-padded by 2 px and flattened, so every neighbour is a fixed flat
    offset (±1, ±S) and every op runs on contiguous memory; values outside the core are junk
    that the zeroed border of the magnitudes keeps out (OpenCV's zero border). Gradients and
    masks are int16 (exact, as OpenCV's integer code; float and bool ops cost 2–8× more).
    """
    n, _, h, w = img.shape
    s = w + 4
    f = F.pad(img.to(torch.int16), (2, 2, 2, 2), mode="replicate").view(-1)
    ln = f.numel()
    d = torch.zeros_like(f)
    torch.sub(f[2:], f[:-2], out=d[1:-1])  # horizontal difference
    gx = d * 2  # then [1 2 1] down the columns
    gx[s:] += d[:-s]
    gx[:-s] += d[s:]
    d.zero_()
    torch.sub(f[2 * s:], f[:-2 * s], out=d[s:-s])  # vertical difference
    gy = d * 2  # then [1 2 1] along the rows
    gy[1:] += d[:-1]
    gy[:-1] += d[1:]
    s_pos = _cmp16(torch.ge, torch.bitwise_xor(gx, gy), 0)  # OpenCV: s = (dx ^ dy) < 0 ? -1 : 1
    ax, ay = gx.abs_(), gy.abs_()
    mag = torch.add(ax, ay).view(n, -1).mul_(_interior(h, w, img.device)).view(-1)
    # horizontal if ay < ax·tan22.5°, vertical if ay > ax·(tan22.5° + 2), compared as the sign of
    # a float32 difference of exact terms (ax·13573/2¹⁵ has a 24-bit mantissa; ay − 2ax is small)
    axf, ayf = ax.float(), ay.float()
    horiz = _cmp16(torch.lt, torch.add(ayf, axf, alpha=-_TAN22), 0)
    vert = _cmp16(torch.gt, ayf.sub_(axf, alpha=2).add_(axf, alpha=-_TAN22), 0)
    # neighbours of flat positions i in [s + 1, ln − s − 1): the core and its first ring
    lo_, hi_ = s + 1, ln - s - 1
    c = mag[lo_:hi_]

    def gt(off: int, strict: bool = True) -> torch.Tensor:
        return _cmp16(torch.gt if strict else torch.ge, c, mag[lo_ + off:hi_ + off])

    keep = gt(-1).bitwise_and_(gt(1, False)).bitwise_and_(horiz[lo_:hi_])
    keep |= gt(-s).bitwise_and_(gt(s, False)).bitwise_and_(vert[lo_:hi_])
    sp = s_pos[lo_:hi_]
    diag = gt(-s - 1).bitwise_and_(gt(s + 1)).bitwise_and_(sp)
    diag |= gt(-s + 1).bitwise_and_(gt(s - 1)).bitwise_and_(sp.bitwise_xor_(1))
    keep |= diag.bitwise_and_(horiz[lo_:hi_].bitwise_or_(vert[lo_:hi_]).bitwise_xor_(1))  # exclusive
    keep.bitwise_and_(_cmp16(torch.gt, c, low))
    maxima = torch.zeros(ln, dtype=torch.bool, device=img.device)
    maxima[lo_:hi_] = keep.bool()
    edges = torch.zeros_like(maxima)
    edges[lo_:hi_] = _cmp16(torch.gt, c, high).bool()
    edges &= maxima
    if not torch.equal(maxima, edges):  # weak candidates: grow the strong edges through them
        for _ in range(h * w):  # two steps per convergence test (a surplus step is a no-op)
            grown = _dilate_flat(_dilate_flat(edges, s).logical_and_(maxima), s).logical_and_(maxima)
            if torch.equal(grown, edges):
                break
            edges = grown
    return edges.view(n, 1, h + 4, s)[..., 2:2 + h, 2:2 + w]


def _dilate_flat(m: torch.Tensor, s: int) -> torch.Tensor:
    """8-connected dilation of a flat padded bool map with row stride s: two separable 3-tap ORs
    on contiguous shifted slices (the padding keeps images and rows apart)."""
    r = m.clone()
    r[1:] |= m[:-1]
    r[:-1] |= m[1:]
    out = r.clone()
    out[s:] |= r[:-s]
    out[:-s] |= r[s:]
    return out


def distance_to(edges: torch.Tensor, cap: float) -> torch.Tensor:
    """Euclidean distance of every pixel to the nearest True pixel (N×1×H×W), capped at ``cap``.

    Exact two-pass EDT: the distance to the nearest edge in the same row (last edge at or before
    x by a running max, next one by a reversed running min), then d² = min over row offsets
    |dy| <= cap of dy² + g(y + dy, x)². OpenCV's ``DIST_L2`` with a 5×5 mask is a chamfer
    approximation of the same distance (error < 2 %). Squared distances are integers, computed
    exactly in int16 (int32 for caps over 127 or huge widths) with each axis capped at ceil(cap), which changes
    no distance below cap; the batch is laid out H×W×N so that every shift is a contiguous block.
    """
    n, _, h, w = edges.shape
    ci = int(math.ceil(cap))
    dt = torch.int16 if ci <= 127 and w + 2 * ci < 2 ** 15 else torch.int32
    e = edges[:, 0].permute(1, 2, 0).to(dt, memory_format=torch.contiguous_format)  # H×W×N
    xs = torch.arange(w, device=e.device, dtype=dt).view(1, w, 1)
    # no edge at or before x: last = −ci (x − last >= ci); none at or after: next = w + ci
    last = _scan(e * (xs + ci) - ci, torch.maximum, reverse=False)
    nxt = _scan(e * (xs - w - ci) + (w + ci), torch.minimum, reverse=True)
    r = min(h - 1, ci)
    # g2 padded with r rows of ci² above and below: both offsets ±dy are plain slices
    g2 = torch.full((h + 2 * r, w, n), ci * ci, device=e.device, dtype=dt)
    g = torch.minimum(xs - last, nxt - xs).clamp_(max=ci)
    torch.mul(g, g, out=g2[r:r + h])
    d2 = g2[r:r + h].clone()
    tmp = torch.empty_like(d2)
    for dy in range(1, r + 1):
        # every candidate at offset dy is >= dy²: once no pixel is farther, d2 is final (exact;
        # looked at every other offset, as a surplus offset changes nothing)
        if dy % 2 and dy * dy >= int(d2.max()):
            break
        torch.minimum(g2[r + dy:r + dy + h], g2[r - dy:r - dy + h], out=tmp).add_(dy * dy)
        torch.minimum(d2, tmp, out=d2)
    d = d2.float() if ci == cap else d2.float().clamp_(max=cap * cap)  # d2 <= ci² already
    d = d.sqrt_()
    return d.permute(2, 0, 1).unsqueeze(1).contiguous()


def _scan(a: torch.Tensor, op, reverse: bool) -> torch.Tensor:
    """Running ``op`` (max/min) along dim 1, from the left (or right if ``reverse``), by doubling
    (Hillis–Steele) between two buffers: log2(W) whole-tensor ops; CPU ``cummax`` is a scalar
    loop, ~10× slower."""
    w = a.shape[1]
    b = torch.empty_like(a)
    s = 1
    while s < w:
        if reverse:  # b[x] = op(a[x], a[x + s]); the last s entries have no partner
            op(a[:, :-s], a[:, s:], out=b[:, :-s])
            b[:, -s:] = a[:, -s:]
        else:
            op(a[:, s:], a[:, :-s], out=b[:, s:])
            b[:, :s] = a[:, :s]
        a, b = b, a
        s *= 2
    return a


def equalize_hist(img: torch.Tensor) -> torch.Tensor:
    """``cv2.equalizeHist`` per image on integer-valued N×1×H×W in 0..255."""
    n = img.shape[0]
    # one bincount over image-offset levels: all N histograms in one pass
    offsets = torch.arange(0, 256 * n, 256, device=img.device, dtype=torch.int32).unsqueeze(1)
    flat = img.reshape(n, -1).int().add_(offsets)  # int32: half the bytes of int64 indices
    hist = torch.bincount(flat.reshape(-1), minlength=256 * n).view(n, 256).float()
    first = (hist > 0).float().argmax(dim=1, keepdim=True)
    h_first = hist.gather(1, first)
    total = float(flat.shape[1])
    scale = 255.0 / (total - h_first).clamp_min(1)
    lut = torch.round((hist.cumsum(1) - h_first) * scale).clamp(0, 255)
    lut = torch.where(h_first == total, torch.arange(256.0, device=img.device), lut)  # one level: unchanged
    return lut.view(-1).index_select(0, flat.reshape(-1)).view_as(img).to(img.dtype)


def edge_distance(liquid_u8: torch.Tensor, cap: float) -> torch.Tensor:
    """``distance_to(canny(liquid_u8), cap)``; on CPU by the compiled kernel of ``_jit_spatter``
    where numba is installed (the same values, tested)."""
    if _jit.usable(liquid_u8):
        from . import _jit_spatter  # imports numba: only once it is known to be there
        return _jit_spatter.edge_distance(liquid_u8, cap)
    return distance_to(canny(liquid_u8), cap)


def water_mask(liquid_u8: torch.Tensor) -> torch.Tensor:
    """The original's water-drop shading ``m`` before scaling (N×1×H×W, 0..1)."""
    # the original blurs 255 − 255·edges and takes the distance to its zeros: the edges themselves
    dist = edge_distance(liquid_u8, 20.0).to(liquid_u8.dtype)
    dist = torch.floor(flt.box_filter3(dist))  # cv2.blur(float) then astype(uint8)
    return water_shading(dist, liquid_u8)


def water_shading(dist: torch.Tensor, liquid_u8: torch.Tensor) -> torch.Tensor:
    """``water_mask`` after its first blur; on CPU by the compiled kernel of ``_jit_spatter``
    where numba is installed (the same values, tested), else ``water_shading_torch``."""
    if _jit.usable(dist):
        from . import _jit_spatter
        return _jit_spatter.water_shading(dist, liquid_u8)
    return water_shading_torch(dist, liquid_u8)


def water_shading_torch(dist: torch.Tensor, liquid_u8: torch.Tensor) -> torch.Tensor:
    """Equalized, embossed and box-blurred distances (levels 0..255) times the liquid, scaled
    by each image's maximum."""
    dist = equalize_hist(dist)
    dist = torch.round(flt.correlate2d(dist, _EMBOSS, "reflect101")).clamp_(0, 255)  # CV_8U
    dist = torch.round(flt.box_filter3(dist))  # cv2.blur on uint8 rounds
    m = dist.mul_(liquid_u8)
    # m >= 0, so an all-zero image stays 0 under the clamped divisor
    return m.div_(m.amax(dim=(2, 3), keepdim=True).clamp_min_(1e-12))


def _zero_below(t: torch.Tensor, level: float) -> torch.Tensor:
    """t with every value < level (compared in t's dtype) set to 0, in one ``threshold`` pass:
    keeping x > nextafter(level, −inf) is keeping x >= level."""
    lv = torch.tensor(level, dtype=t.dtype)
    below = float(torch.nextafter(lv, torch.tensor(-math.inf, dtype=t.dtype)))
    return torch.threshold(t, below, 0.0)


# make_cifar_c.py: (loc, scale, sigma, threshold, intensity, mud) =
#   [(0.62,0.1,0.7,0.7,0.5,0), (0.65,0.1,0.8,0.7,0.5,0), (0.65,0.3,1,0.69,0.5,0),
#    (0.65,0.1,0.7,0.69,0.6,1), (0.65,0.1,0.5,0.68,0.6,1)]
# make_imagenet_c.py: [(0.65, 0.3, 4, 0.69, 0.6, 0), (0.65, 0.3, 3, 0.68, 0.6, 0),
#    (0.65, 0.3, 2, 0.68, 0.5, 0), (0.65, 0.3, 1, 0.65, 1.5, 1), (0.67, 0.4, 1, 0.65, 1.5, 1)]
@register_corruption(
    "spatter",
    cifar=[(0.62, 0.1, 0.7, 0.7, 0.5, 0), (0.65, 0.1, 0.8, 0.7, 0.5, 0), (0.65, 0.3, 1, 0.69, 0.5, 0),
           (0.65, 0.1, 0.7, 0.69, 0.6, 1), (0.65, 0.1, 0.5, 0.68, 0.6, 1)],
    imagenet=[(0.65, 0.3, 4, 0.69, 0.6, 0), (0.65, 0.3, 3, 0.68, 0.6, 0), (0.65, 0.3, 2, 0.68, 0.5, 0),
              (0.65, 0.3, 1, 0.65, 1.5, 1), (0.67, 0.4, 1, 0.65, 1.5, 1)],
)
def spatter(x: torch.Tensor, c: tuple, g) -> torch.Tensor:
    """Liquid layer = gaussian(N(c0, c1²), σ = c2) thresholded at c3; water adds pale turquoise
    (175, 238, 238) with embossed-drop shading × c4; mud blends to brown (63, 42, 20) where the
    blurred (σ = c4) drop mask exceeds 0.8. Grey images get the colours' luma."""
    n, ch, h, w = x.shape
    liquid = flt.gaussian_filter(c[0] + c[1] * randn((n, 1, h, w), g, x), c[2])
    liquid = _zero_below(liquid, c[3])
    if c[5] == 0:
        m = water_mask(torch.floor(liquid.mul_(255)).clamp_(0, 255)).mul_(c[4])
        return torch.addcmul(x, m, colour((175 / 255, 238 / 255, 238 / 255), ch, x))
    m = flt.gaussian_filter((liquid > c[3]).to(x.dtype), c[4])
    m = torch.where(m < 0.8, torch.zeros_like(m), m)
    return x * (1 - m) + m * colour((63 / 255, 42 / 255, 20 / 255), ch, x)
