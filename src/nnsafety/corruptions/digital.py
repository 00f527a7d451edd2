"""Digital corruptions: brightness, contrast, elastic transform, pixelate, saturate.

Parameters: CIFAR-10-C from ``make_cifar_c.py``, ImageNet-C from ``make_imagenet_c.py``
(github.com/hendrycks/robustness, ``ImageNet-C/create_c/``). Brightness and saturate edit one HSV
channel; both are written in closed form on RGB (every RGB component is V·(1 − S·k(H)), so with H
fixed a change of V or S is a per-pixel rescaling) instead of an HSV round trip.
"""
from __future__ import annotations

from functools import lru_cache

import torch
import torch.nn.functional as F

from .._validation import check_images
from . import _filters as flt, _jit
from ._buffers import new_buffer
from .base import register_corruption, uniform


# make_cifar_c.py: c = [.05, .1, .15, .2, .3]; make_imagenet_c.py: [.1, .2, .3, .4, .5]
@register_corruption("brightness", cifar=[0.05, 0.1, 0.15, 0.2, 0.3],
                     imagenet=[0.1, 0.2, 0.3, 0.4, 0.5], scale_free=True)
def brightness(x: torch.Tensor, c: tuple, g) -> torch.Tensor:
    """HSV value V ← min(V + c, 1) with hue and saturation kept (grey: x ← min(x + c, 1))."""
    v = x.amax(dim=1, keepdim=True)
    v_new = (v + c[0]).clamp(max=1.0)
    scaled = x * (v_new / v.clamp_min(1e-12))
    return torch.where(v > 0, scaled, v_new.expand_as(x))


# make_cifar_c.py: c = [.75, .5, .4, .3, 0.15]; make_imagenet_c.py: [0.4, .3, .2, .1, .05]
@register_corruption("contrast", cifar=[0.75, 0.5, 0.4, 0.3, 0.15],
                     imagenet=[0.4, 0.3, 0.2, 0.1, 0.05], scale_free=True)
def contrast(x: torch.Tensor, c: tuple, g) -> torch.Tensor:
    """(x − mean) · c + mean, with the mean per image and channel."""
    mean = x.mean(dim=(2, 3), keepdim=True)
    # in place on one buffer: the same operations as (x − mean)·c + mean, a third of the page faults
    return torch.sub(x, mean, out=new_buffer(x.shape, x)).mul_(c[0]).add_(mean)


# make_cifar_c.py: (factor, shift) = [(0.3, 0), (0.1, 0), (1.5, 0), (2, 0.1), (2.5, 0.2)]
# make_imagenet_c.py: [(0.3, 0), (0.1, 0), (2, 0), (5, 0.1), (20, 0.2)]
@register_corruption("saturate", cifar=[(0.3, 0), (0.1, 0), (1.5, 0), (2, 0.1), (2.5, 0.2)],
                     imagenet=[(0.3, 0), (0.1, 0), (2, 0), (5, 0.1), (20, 0.2)], scale_free=True)
def saturate(x: torch.Tensor, c: tuple, g) -> torch.Tensor:
    """HSV saturation S ← clip(S·c0 + c1, 0, 1) with hue and value kept.

    Colour: rgb ← V − (V − rgb)·S'/S; a grey pixel (S = 0) has hue 0 in skimage's HSV, so it
    becomes (V, V(1−c1), V(1−c1)), reddish, as in the original. Grey images (C = 1) have no chroma
    and the original (``imagecorruptions``) returns them unchanged, which would make severity 1 a
    no-op; here the factor c0 scales each pixel's deviation from the image's mean intensity
    (desaturating flattens tones, oversaturating pushes them to black/white) and the shift c1
    darkens by the luma of the grey-pixel rule above, x·(1 − 0.701·c1).
    """
    if x.shape[1] == 1:
        mean = x.mean(dim=(2, 3), keepdim=True)
        return ((x - mean) * c[0] + mean) * (1 - (1 - 0.299) * c[1])
    v = x.amax(dim=1, keepdim=True)
    s = (v - x.amin(dim=1, keepdim=True)) / v.clamp_min(1e-12)
    s = torch.where(v > 0, s, torch.zeros_like(s))
    s_new = (s * c[0] + c[1]).clamp(0, 1)
    coloured = v - (v - x) * (s_new / s.clamp_min(1e-12))
    grey = torch.cat([v, v * (1 - s_new), v * (1 - s_new)], dim=1)
    return torch.where(s > 0, coloured, grey)


# make_cifar_c.py: c = [0.95, 0.9, 0.85, 0.75, 0.65]; make_imagenet_c.py: [0.6, 0.5, 0.4, 0.3, 0.25]
@register_corruption("pixelate", cifar=[0.95, 0.9, 0.85, 0.75, 0.65],
                     imagenet=[0.6, 0.5, 0.4, 0.3, 0.25], scale_free=True, in_range=True, checks_range=True)
def pixelate(x: torch.Tensor, c: tuple, g) -> torch.Tensor:
    """PIL BOX resize to int(side·c), then BOX resize back (``make_*_c.py`` use BOX both ways).

    As PIL on a uint8 image: the input is taken at its 8-bit levels, the reduction runs
    horizontally then vertically and each pass rounds to 8 bits as Pillow's fixed-point
    weights do (``_box_weights``); BOX upscaling is nearest-neighbour, an exact copy.
    c is a relative size, so small images are pixelated at their own size (8 px digits: 7, 7, 6,
    6, 5 px, severities 1/2 and 3/4 coincide); through the 32-px detour the CIFAR blocks (≤ 1.5
    px at 32) are finer than a digit pixel and only alias with its 4×4 replication (severity 4
    would come back unchanged).
    """
    h, w = x.shape[-2:]
    sh, sw = max(1, int(h * c[0])), max(1, int(w * c[0]))
    by_product = max(h, w) <= 64 and sw != w
    if _jit.usable(x):  # the compiled kernel (same pixels, tested); else the torch ops below
        from . import _jit_box  # imports numba: only once it is known to be there
        return _jit_box.pixelate(x, sh, sw, by_product, _unit_levels(by_product, x.dtype))
    check_images(x, allow_2d=False)  # corrupt leaves the [0, 1] check to pixelate (checks_range)
    return _pixelate_torch(x, sh, sw)


@lru_cache(maxsize=8)
def _unit_levels(by_product: bool, dtype: torch.dtype) -> torch.Tensor:
    """level/255 for the 256 levels as ``_pixelate_torch`` computes it: times 1/255 (small images
    whose columns are resized: the upscale GEMM's weight) or divided by 255."""
    levels = torch.arange(256, dtype=dtype)
    return levels.mul(torch.ones((), dtype=dtype).div(255)) if by_product else levels.div(255)


def _pixelate_torch(x: torch.Tensor, sh: int, sw: int) -> torch.Tensor:
    """``pixelate`` in torch ops, batched, any device: the reference of the compiled kernel."""
    h, w = x.shape[-2:]
    small = max(h, w) <= 64
    v = torch.mul(x, 255).round_()
    # each pass: window means as a GEMM with the windows' weights, rounded to 8 bits
    # (``_box_weights``); PIL returns a copy when a side does not change
    if sw != w:
        wts, m = _box_weights(w, sw, False, x.dtype, x.device)
        v = _box_round(torch.matmul(v, wts.t()), m)
    if sh != h:
        # picking rows commutes with rounding: small images fold the row upscale in here
        wts, m = _box_weights(h, sh, small, x.dtype, x.device)
        v = _box_round(flt.left_matmul(wts, v), None if m is None else m.view(-1, 1))
    if small:  # the column upscale as one 0/1 product, ÷255 folded in
        if sw != w:
            return torch.matmul(v, _box_pick(sw, w, x.dtype, x.device).t().div(255))
        return v.div_(255)
    return _box_upscale(v.div_(255), h, w)  # ÷255 before the copy: on the small image


# Windows of up to this many pixels take the float shortcut of ``_box_weights``
_BOX_FLOAT_MAX = 9
# The shortcut's relative bias on the window means: u·(1 + η) with η·255 < 1/(2·9), see _box_weights
_BOX_ETA = 1e-4


@lru_cache(maxsize=64)
def _box_weights(n: int, small: int, upscaled: bool, dtype: torch.dtype, device: torch.device) -> tuple:
    """PIL BOX n -> small along one axis: the small×n matrix of each output's (contiguous) input
    window and, for windows wider than ``_BOX_FLOAT_MAX``, the window sizes m (else None);
    ``upscaled``: rows repeated as the BOX upscale back to n picks them (n×n).

    Pillow (Resample.c, 8 bpc) rounds a window of m equal weights summing to s as
    (s·round(2²²/m) + 2²¹) >> 22, which for m <= 9 is floor(s/m + ½) (checked exhaustively in the
    tests). The weights here are (1 + η)/m, so the GEMM gives u·(1 + η), u = s/m, and
    ``round`` (half to even) of it is floor(u + ½): u is a multiple of 1/2m, so its distance to
    a half-integer is 0 or >= 1/2m = 1/18; the bias u·η is positive for u > 0 and below
    255·η = 0.0255, and it dwarfs the float error (< 9 ulps of the terms, each <= u): a tie
    rounds up, nothing else crosses a boundary. Wider windows (tiny targets) get 0/1 weights,
    the integer sums and Pillow's fixed-point formula (``_box_round``).
    """
    a = (flt.box_resize_matrix(n, small) > 0).to(torch.float64)
    m = a.sum(1, keepdim=True)
    if upscaled:
        pick = _box_nearest(small, n)
        a, m = a[pick], m[pick]
    if int(m.max()) <= _BOX_FLOAT_MAX:
        return (a * (1 + _BOX_ETA) / m).to(device, dtype), None
    return a.to(device, dtype), m.view(-1).to(device, dtype)


@lru_cache(maxsize=64)
def _box_nearest(small: int, n: int) -> torch.Tensor:
    """The one source pixel of each output of a PIL BOX upscale small -> n (nearest neighbour:
    the pixel under the output centre (j + ½)·small/n)."""
    return flt.box_resize_matrix(small, n).argmax(1)


@lru_cache(maxsize=64)
def _nearest_exact_agrees(small: int, n: int) -> bool:
    """Whether torch's ``nearest-exact`` (source floor((j + ½)·scale) in float32) picks PIL's
    source pixels for this size pair (it can differ only on a float32 rounding at a tie)."""
    src = torch.arange(float(small)).view(1, 1, 1, small)
    picked = F.interpolate(src, size=(1, n), mode="nearest-exact").view(n).long()
    return bool(torch.equal(picked, _box_nearest(small, n)))


def _box_upscale(v: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """PIL BOX upscale of the last two dims to h×w (large images): nearest neighbour, an exact
    copy, by torch's ``nearest-exact`` kernel where it agrees with PIL, else two gathers."""
    sh, sw = v.shape[-2:]
    if (sh, sw) == (h, w):
        return v
    if _nearest_exact_agrees(sh, h) and _nearest_exact_agrees(sw, w):
        lead = v.shape[:-2]
        out = F.interpolate(v.reshape(1, -1, sh, sw), size=(h, w), mode="nearest-exact")
        return out.view(*lead, h, w)
    rows, cols = _box_nearest(sh, h).to(v.device), _box_nearest(sw, w).to(v.device)
    return v.index_select(-2, rows).index_select(-1, cols)


@lru_cache(maxsize=64)
def _box_pick(small: int, n: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """n×small 0/1 matrix picking each output's source pixel."""
    return F.one_hot(_box_nearest(small, n), small).to(device, dtype)


def _box_round(s: torch.Tensor, m) -> torch.Tensor:
    """Pillow's 8-bit result of windows from ``_box_weights`` (s is overwritten): with m None,
    s holds the biased means and is rounded; else s holds integer sums of m equal weights,
    K = round(2²²/m) each, and the result is (s·K + 2²¹) >> 22 in float64."""
    if m is None:
        return s.round_()
    k = torch.floor(0.5 + (1.0 / m.double()) * 2.0 ** 22)
    return torch.floor((s.double() * k + 2.0 ** 21) / 2.0 ** 22).to(s.dtype)


def _affine_sources(pts1: torch.Tensor, pts2: torch.Tensor, h: int, w: int) -> tuple:
    """Source (y, x) of every output pixel for ``cv2.warpAffine(img, getAffineTransform(p1, p2))``.

    warpAffine maps each output pixel back through the inverse of the affine that takes the
    three points ``pts1`` to ``pts2`` (points as (x, y)); the inverse takes pts2 to pts1.
    """
    n = pts2.shape[0]
    ones = torch.ones(n, 3, 1, dtype=pts2.dtype, device=pts2.device)
    a = torch.cat([pts2, ones], dim=2)  # N×3×3: rows (x', y', 1)
    inv = torch.linalg.solve(a, pts1.expand(n, 3, 2))  # N×3×2: [x', y', 1] @ inv = [x, y]
    yy, xx = torch.meshgrid(torch.arange(h, dtype=pts2.dtype, device=pts2.device),
                            torch.arange(w, dtype=pts2.dtype, device=pts2.device), indexing="ij")
    grid = torch.stack([xx, yy, torch.ones_like(xx)], dim=-1).reshape(1, h * w, 3)
    src = torch.matmul(grid, inv)  # N × HW × 2
    return src[..., 1].view(n, h, w), src[..., 0].view(n, h, w)


_C32, _C244 = 32.0, 244.0  # the originals' IMSIZE (CIFAR) and "244 should have been 224" (ImageNet)


# make_cifar_c.py: (alpha, sigma, affine) = IMSIZE·[(0, 0, 0.08), (0.05, 0.2, 0.07), (0.08, 0.06, 0.06),
#   (0.1, 0.04, 0.05), (0.1, 0.03, 0.03)] with IMSIZE = 32
# make_imagenet_c.py: 244·[(2, 0.7, 0.1), (2, 0.08, 0.2), (0.05, 0.01, 0.02), (0.07, 0.01, 0.02),
#   (0.12, 0.01, 0.02)]
@register_corruption(
    "elastic_transform",
    cifar=[(_C32 * 0, _C32 * 0, _C32 * 0.08), (_C32 * 0.05, _C32 * 0.2, _C32 * 0.07),
           (_C32 * 0.08, _C32 * 0.06, _C32 * 0.06), (_C32 * 0.1, _C32 * 0.04, _C32 * 0.05),
           (_C32 * 0.1, _C32 * 0.03, _C32 * 0.03)],
    imagenet=[(_C244 * 2, _C244 * 0.7, _C244 * 0.1), (_C244 * 2, _C244 * 0.08, _C244 * 0.2),
              (_C244 * 0.05, _C244 * 0.01, _C244 * 0.02), (_C244 * 0.07, _C244 * 0.01, _C244 * 0.02),
              (_C244 * 0.12, _C244 * 0.01, _C244 * 0.02)],
)
def elastic_transform(x: torch.Tensor, c: tuple, g) -> torch.Tensor:
    """Random affine (3 points moved by U(−c2, c2) px), then a smooth random displacement field.

    Follows ``elastic_transform`` of the originals: ``cv2.warpAffine`` (bilinear, reflect-101
    border), then dx, dy = c0 · gaussian(U(−1, 1), σ = c1, reflect, truncate 3) and
    ``map_coordinates(order=1, mode='reflect')`` at (y + dy, x + dx). Parameters are in pixels.
    """
    n, ch, h, w = x.shape
    cs = torch.tensor([h // 2, w // 2], dtype=x.dtype)
    ss = float(min(h, w) // 3)
    pts1 = torch.stack([cs + ss, torch.stack([cs[0] + ss, cs[1] - ss]), cs - ss]).to(x.device)
    ref = x.new_empty(0)  # coordinate fields in the image's float type
    pts2 = pts1 + uniform(-c[2], c[2], (n, 3, 2), g, ref)
    sy, sx = _affine_sources(pts1, pts2, h, w)
    x = flt.bilinear_sample(x, sy, sx, "reflect101")
    dx = flt.gaussian_filter(uniform(-1.0, 1.0, (n, h, w), g, ref), c[1], "reflect", 3.0) * c[0]
    dy = flt.gaussian_filter(uniform(-1.0, 1.0, (n, h, w), g, ref), c[1], "reflect", 3.0) * c[0]
    yy, xx = torch.meshgrid(torch.arange(h, dtype=x.dtype, device=x.device),
                            torch.arange(w, dtype=x.dtype, device=x.device), indexing="ij")
    return flt.bilinear_sample(x, yy + dy, xx + dx, "reflect")
