"""Spatter: water drops (severities with c5 = 0) or mud (c5 = 1) on the lens.

Parameters: CIFAR-10-C from ``make_cifar_c.py``, ImageNet-C from ``make_imagenet_c.py``
(github.com/hendrycks/robustness, ``ImageNet-C/create_c/``). The water branch runs OpenCV's
Canny edge detector, a distance transform, histogram equalization and an emboss filter on the
drop mask; batched torch versions of these follow (OpenCV 4 semantics, see each docstring).
"""
from __future__ import annotations

import torch

from . import _filters as flt
from .base import colour, randn, register_corruption

_SOBEL_X = torch.tensor([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=torch.float64)
_TAN22 = 13573 / 32768  # OpenCV's fixed-point tan(22.5°)
_EMBOSS = torch.tensor([[-2.0, -1, 0], [-1, 1, 1], [0, 1, 2]], dtype=torch.float64)


def _neighbours(m: torch.Tensor):
    """A function (dy, dx) -> view of m[y + dy, x + dx] with zeros outside (OpenCV keeps a zero
    border around the magnitudes); one padded copy serves all eight neighbours."""
    h, w = m.shape[-2:]
    p = torch.nn.functional.pad(m, (1, 1, 1, 1))
    return lambda dy, dx: p[..., 1 + dy:1 + dy + h, 1 + dx:1 + dx + w]


def canny(img: torch.Tensor, low: float = 50, high: float = 150) -> torch.Tensor:
    """``cv2.Canny(img, low, high)`` (aperture 3, L1 magnitude) on N×1×H×W 0..255; bool edges.

    Sobel with replicated borders; non-maximum suppression along the gradient direction quantized
    by OpenCV's tan 22.5° / tan 67.5° tests (strict on one side, >= on the other as OpenCV);
    hysteresis grows edges from magnitudes > high through 8-connected maxima > low.
    """
    gx = flt.correlate2d(img, _SOBEL_X, "nearest")
    gy = flt.correlate2d(img, _SOBEL_X.t(), "nearest")
    ax, ay = gx.abs(), gy.abs()
    mag = ax + ay
    horiz = ay < ax * _TAN22
    vert = ay > ax.mul_(_TAN22 + 2)
    s_pos = gx.mul_(gy).ge_(0).bool()  # OpenCV: s = (dx ^ dy) < 0 ? -1 : 1
    nb = _neighbours(mag)
    keep_h = (mag > nb(0, -1)) & (mag >= nb(0, 1))
    keep_v = (mag > nb(-1, 0)) & (mag >= nb(1, 0))
    keep_d = torch.where(s_pos, (mag > nb(-1, -1)) & (mag > nb(1, 1)),
                         (mag > nb(-1, 1)) & (mag > nb(1, -1)))
    maxima = (mag > low) & torch.where(horiz, keep_h, torch.where(vert, keep_v, keep_d))
    edges = maxima & (mag > high)
    if not bool((maxima & ~edges).any()):  # no weak candidates: nothing to grow
        return edges
    for _ in range(img.shape[-1] * img.shape[-2]):
        grown = _dilate3(edges).logical_and_(maxima)
        if torch.equal(grown, edges):
            break
        edges = grown
    return edges


def _dilate3(m: torch.Tensor) -> torch.Tensor:
    """8-connected dilation of a bool map (3×3 OR, zeros outside) as two separable 3-tap ORs:
    4 ops instead of 8 (and ~20× cheaper than ``max_pool2d`` on CPU)."""
    p = torch.nn.functional.pad(m, (1, 1, 1, 1))
    r = p[..., :, :-2] | p[..., :, 1:-1]
    r |= p[..., :, 2:]
    out = r[..., :-2, :] | r[..., 1:-1, :]
    return out.logical_or_(r[..., 2:, :])


def distance_to(edges: torch.Tensor, cap: float) -> torch.Tensor:
    """Euclidean distance of every pixel to the nearest True pixel (N×1×H×W), capped at ``cap``.

    Exact two-pass EDT: the distance to the nearest edge in the same row (last edge at or before
    x by a running max, next one by a reversed running min), then d² = min over row offsets
    |dy| <= cap of dy² + g(y + dy, x)². OpenCV's ``DIST_L2`` with a 5×5 mask is a chamfer
    approximation of the same distance (error < 2 %).
    """
    n, _, h, w = edges.shape
    e = edges[:, 0]
    xs = torch.arange(w, device=e.device, dtype=torch.float32).expand_as(e)
    inf = float("inf")
    last = _scan(torch.where(e, xs, -inf), torch.maximum, -inf, reverse=False)
    nxt = _scan(torch.where(e, xs, inf), torch.minimum, inf, reverse=True)
    big = cap * cap
    r = min(h - 1, int(cap))
    # g2 padded with r rows of cap² above and below: both offsets ±dy are plain slices
    g2 = torch.full((n, h + 2 * r, w), big, device=e.device)
    torch.minimum(xs - last, nxt - xs, out=g2[:, r:r + h]).square_().clamp_(max=big)
    d2 = g2[:, r:r + h].clone()
    tmp = torch.empty_like(d2)
    for dy in range(1, r + 1):
        # every candidate at offset dy is >= dy²: once no pixel is farther, d2 is final (exact)
        if dy * dy >= float(d2.max()):
            break
        torch.minimum(g2[:, r + dy:r + dy + h], g2[:, r - dy:r - dy + h], out=tmp).add_(dy * dy)
        torch.minimum(d2, tmp, out=d2)
    return d2.sqrt_().unsqueeze(1)


def _scan(a: torch.Tensor, op, fill: float, reverse: bool) -> torch.Tensor:
    """Running ``op`` (max/min) along the last dim, from the left (or right if ``reverse``), by
    doubling (Hillis–Steele): log2(W) whole-tensor ops; CPU ``cummax`` is a scalar loop, ~10× slower."""
    s = 1
    while s < a.shape[-1]:
        shifted = torch.nn.functional.pad(a[..., s:] if reverse else a[..., :-s],
                                          (0, s) if reverse else (s, 0), value=fill)
        a = op(a, shifted)
        s *= 2
    return a


def equalize_hist(img: torch.Tensor) -> torch.Tensor:
    """``cv2.equalizeHist`` per image on integer-valued N×1×H×W in 0..255."""
    n = img.shape[0]
    flat = img.reshape(n, -1).long()
    ones = torch.ones_like(flat, dtype=torch.float32)
    hist = torch.zeros(n, 256, device=img.device).scatter_add_(1, flat, ones)
    first = (hist > 0).float().argmax(dim=1, keepdim=True)
    h_first = hist.gather(1, first)
    total = float(flat.shape[1])
    scale = 255.0 / (total - h_first).clamp_min(1)
    lut = torch.round((hist.cumsum(1) - h_first) * scale).clamp(0, 255)
    out = lut.gather(1, flat).view_as(img).to(img.dtype)
    flat_img = (h_first == total).view(n, 1, 1, 1)  # one grey level: OpenCV returns it unchanged
    return torch.where(flat_img, img, out)


def water_mask(liquid_u8: torch.Tensor) -> torch.Tensor:
    """The original's water-drop shading ``m`` before scaling (N×1×H×W, 0..1)."""
    dist = 255 - 255 * canny(liquid_u8).to(liquid_u8.dtype)
    dist = distance_to(dist == 0, 20.0).to(liquid_u8.dtype)
    dist = torch.floor(flt.box_filter3(dist))  # cv2.blur(float) then astype(uint8)
    dist = equalize_hist(dist)
    dist = torch.round(flt.correlate2d(dist, _EMBOSS, "reflect101")).clamp(0, 255)  # CV_8U
    dist = torch.round(flt.box_filter3(dist))  # cv2.blur on uint8 rounds
    m = liquid_u8 * dist
    peak = m.amax(dim=(2, 3), keepdim=True)
    return torch.where(peak > 0, m / peak.clamp_min(1e-12), torch.zeros_like(m))


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
    liquid = liquid.masked_fill_(liquid < c[3], 0)
    if c[5] == 0:
        m = water_mask(torch.floor(liquid * 255).clamp(0, 255)) * c[4]
        return x + m * colour((175 / 255, 238 / 255, 238 / 255), ch, x)
    m = flt.gaussian_filter((liquid > c[3]).to(x.dtype), c[4])
    m = torch.where(m < 0.8, torch.zeros_like(m), m)
    return x * (1 - m) + m * colour((63 / 255, 42 / 255, 20 / 255), ch, x)
