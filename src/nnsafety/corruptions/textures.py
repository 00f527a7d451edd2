"""Procedural textures: the plasma fractal of fog, and a frost texture that replaces the photos.

Everything is generated in batch from a ``torch.Generator``; nothing is downloaded or shipped.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch

from . import _filters as flt, _jit
from ._buffers import new_buffer
from .base import rand, randint, randn, uniform


_NUMPY = {torch.float32: np.float32, torch.float64: np.float64}


def next_power_of_2(n: int) -> int:
    return 1 if n <= 1 else 1 << (int(n) - 1).bit_length()


def plasma_fractal(n: int, mapsize: int, wibbledecay: float, g: Optional[torch.Generator],
                   like: torch.Tensor, out: Optional[torch.Tensor] = None) -> torch.Tensor:
    """N diamond-square height maps of side ``mapsize`` (a power of 2), each scaled to [0, 1].

    A batched port of ``plasma_fractal`` in ``make_cifar_c.py`` (itself from FLHerne/mapgen):
    each midpoint is the mean of its 4 neighbours (wrapping around) plus wibble·U(−wibble, wibble),
    with wibble starting at 100 and divided by ``wibbledecay`` at every level. Computed in float64.
    ``out``: an N×h×w tensor (h, w <= mapsize) that receives the top-left h×w of the scaled maps
    in its dtype instead, and is returned.
    """
    if mapsize & (mapsize - 1):
        raise ValueError(f"expected a power-of-2 mapsize, got {mapsize}")
    if out is not None and (out.dim() != 3 or out.shape[0] != n or max(out.shape[1:]) > mapsize):
        raise ValueError(f"expected out of shape {n}×h×w with h, w <= {mapsize}, got {tuple(out.shape)}")
    m = new_buffer((n, mapsize, mapsize), like, torch.float64)
    # every point but the corner (0, 0) is written by one level before any level reads it
    m[:, 0, 0] = 0
    step, wibble = mapsize, 100.0

    def wibbled_mean(a: torch.Tensor, out: torch.Tensor) -> None:
        # a/4 + wibble·U(−wibble, wibble) into ``out``, the uniform drawn and scaled in place
        u = rand(out.shape, g, out).mul_(2 * wibble).add_(-wibble).mul_(wibble)
        torch.add(u, a, alpha=0.25, out=out)

    if _jit.usable(like):  # one compiled pass per level on the same draws (same maps, tested)
        from ._jit_plasma import plasma_level, plasma_scale
        f32 = like.new_empty(0, dtype=torch.float32)
        while step >= 2:
            k = mapsize // step
            draws = [rand((n, k, k), g, f32).numpy() for _ in range(3)]
            plasma_level(m.numpy(), step, wibble, *draws)
            step //= 2
            wibble /= wibbledecay
        out = m if out is None else out
        plasma_scale(m.numpy(), out.numpy())  # the scaling below, crop and cast in one pass
        return out
    while step >= 2:
        half, k = step // 2, mapsize // step
        # the corners with their wrap-around row and column appended (the original's np.roll)
        cp = torch.empty(n, k + 1, k + 1, dtype=m.dtype, device=m.device)
        cp[:, :k, :k] = m[:, 0::step, 0::step]
        cp[:, k, :k], cp[:, :, k] = cp[:, 0, :k], cp[:, :, 0]
        rows = cp[:, :-1] + cp[:, 1:]
        wibbled_mean(rows[..., :-1] + rows[..., 1:], m[:, half::step, half::step])
        ul = cp[:, :k, :k]
        # dr with its wrap-around row (above) and column (left) prepended
        dp = torch.empty(n, k + 1, k + 1, dtype=m.dtype, device=m.device)
        dp[:, 1:, 1:] = m[:, half::step, half::step]
        dp[:, 0, 1:], dp[:, :, 0] = dp[:, k, 1:], dp[:, :, k]
        dr = dp[:, 1:, 1:]
        wibbled_mean(((dr + dp[:, :-1, 1:]) + ul).add_(cp[:, :k, 1:]), m[:, 0::step, half::step])
        wibbled_mean(((dr + dp[:, 1:, :-1]) + ul).add_(cp[:, 1:, :k]), m[:, half::step, 0::step])
        step //= 2
        wibble /= wibbledecay
    m -= m.amin(dim=(1, 2), keepdim=True)
    m.div_(m.amax(dim=(1, 2), keepdim=True).clamp_min(1e-12))
    return m if out is None else out.copy_(m[:, :out.shape[1], :out.shape[2]])


# Statistics of the five frost photos the original draws from (idx = np.random.randint(5), so
# frost6 is never used), measured once from imagecorruptions 1.1.2's copies: per-channel mean
# (R, G, B) of the whole photo, and the std of the grey texture inside 32-px crops of the
# 0.2×-resized photo (CIFAR-10-C's crop); 224-px crops of the full photo give the same std
# within 0.007. frost2.png and frost3.png are the same picture.
FROST_MEAN_RGB = (
    (0.305, 0.585, 0.650),
    (0.787, 0.805, 0.841),
    (0.787, 0.805, 0.841),
    (0.540, 0.599, 0.648),
    (0.441, 0.484, 0.528),
)
FROST_STD = (0.056, 0.071, 0.071, 0.101, 0.135)


def _centred(t: torch.Tensor) -> tuple:
    """(t − mean, std) per map (unbiased std over the last two dims, floored at 1e-6), the
    standardized map being their quotient.

    The two-pass sum of squares instead of ``Tensor.std``: ~20× faster on CPU for many small
    maps (torch's Welford reduction runs serially per map), equal to within float rounding.
    """
    mu = t.mean(dim=(-2, -1), keepdim=True)
    d = torch.sub(t, mu, out=new_buffer(t.shape, t))
    m = t.shape[-2] * t.shape[-1]
    # d·d is torch.square's own kernel (pow by 2) without its slower dispatch; buffers: see new_buffer
    var = torch.mul(d, d, out=new_buffer(d.shape, d)).sum(dim=(-2, -1), keepdim=True).div_(max(m - 1, 1))
    return d, var.sqrt_().clamp_min_(1e-6)


def _standardize(t: torch.Tensor) -> torch.Tensor:
    """(t − mean) / std per map (see ``_centred``)."""
    d, std = _centred(t)
    return d.div_(std)


# elements per chunk of images in ``_needles``: ~600 KB per float32 map, so that the ~90 passes
# over each chunk run from the core's L2 cache instead of memory (2.6× faster at 224 px than whole
# batches); 2 images at 224 px per chunk instead of 1 halve the Python calls (0.83 -> 0.67 ms per
# image; 3 images 0.68, 4 0.76: the cache overflows)
_NEEDLE_CHUNK = 150_000


def _needles(seeds: torch.Tensor, wts: torch.Tensor, oy: torch.Tensor, ox: torch.Tensor) -> torch.Tensor:
    """max over the directions a of sum_t wts[t]·seeds shifted by (oy[a, t], ox[a, t]) (zero
    outside): the seeds streaked along each line, every tap one strided slice of a padded copy."""
    n, h, w = seeds.shape
    r = int(oy.abs().max().item()), int(ox.abs().max().item())
    padded = new_buffer((n, h + 2 * r[0], w + 2 * r[1]), seeds).zero_()
    padded[:, r[0]:r[0] + h, r[1]:r[1] + w] = seeds
    taps = [[(r[0] + int(oy[a, t]), r[1] + int(ox[a, t]), float(wts[t])) for t in range(wts.numel())]
            for a in range(oy.shape[0])]
    out = new_buffer(seeds.shape, seeds)
    step = max(1, _NEEDLE_CHUNK // (h * w))
    line = torch.empty(min(step, n), h, w, dtype=seeds.dtype, device=seeds.device)
    for i in range(0, n, step):
        src, dst, ln = padded[i:i + step], out[i:i + step], line[:min(step, n - i)]
        for a, line_taps in enumerate(taps):
            acc = dst if a == 0 else ln
            (y0, x0, wt), rest = line_taps[0], line_taps[1:]
            torch.mul(src[:, y0:y0 + h, x0:x0 + w], wt, out=acc)
            for y0, x0, wt in rest:
                acc.add_(src[:, y0:y0 + h, x0:x0 + w], alpha=wt)
            if a:
                torch.maximum(dst, acc, out=dst)
    return out


def frost_pattern(n: int, h: int, w: int, g: Optional[torch.Generator], like: torch.Tensor) -> tuple:
    """The grey pattern of ``frost_texture`` before its last division, and each image's photo
    statistics: (d, s, mean, std) with the standardized pattern d / s (d: N×H×W, s: N×1×1), the
    photo's mean colour (N×3) and contrast (N,), in like's dtype."""
    dt = like.dtype
    style = randint(0, len(FROST_STD), (n,), g, like)
    side = next_power_of_2(max(h, w))
    if dt == torch.float64:  # a float64 batch keeps the view (its sums run in the view's order)
        coarse = plasma_fractal(n, side, 2.0, g, like)[:, :h, :w]
    else:
        coarse = plasma_fractal(n, side, 2.0, g, like, out=new_buffer((n, h, w), like))
    hit_u, val_u = rand((n, h, w), g, like), rand((n, h, w), g, like)  # seed = (val_u + 0.5)·[hit_u < 0.025]
    length = max(5.0, round(min(h, w) / 16))
    # three needle directions per call, shared by the batch (the original's crops of five photos
    # share their crystals' orientations too): every tap is then one strided slice, no gather
    angles = uniform(-180.0, 180.0, (3,), g, like.new_empty(0, device="cpu"))
    wts, oy, ox = flt.motion_blur_taps(length, length / 2, angles)
    jit = _jit.usable(like)  # float32/64 on the CPU
    scalar = _NUMPY[dt] if jit else None  # constants in x's dtype, as torch's ops on it use them
    if jit:
        from . import _jit_frost
        needles = new_buffer((n, h, w), like)
        _jit_frost.needles(hit_u.numpy(), val_u.numpy(), scalar(0.025), scalar(0.5), wts.to(dt).numpy(),
                           oy.numpy(), ox.numpy(), needles.numpy())
    else:
        needles = _needles(val_u.add_(0.5).mul_(hit_u < 0.025), wts, oy, ox)
    grain = randn((n, h, w), g, like)  # times 0.25
    # a light blur makes the needles sub-pixel thin, as in CIFAR-10-C's 0.2×-downscaled photos
    needles = flt.gaussian_filter(needles, 0.5)
    if jit:  # the sum below in one compiled pass (the same operations)
        (da, sa), (db, sb) = _centred(coarse), _centred(needles)
        pattern = new_buffer((n, h, w), like)
        _jit_frost.pattern(da.numpy(), sa.view(n).numpy(), db.numpy(), sb.view(n).numpy(), grain.numpy(),
                           scalar(0.6), scalar(0.25), pattern.numpy())
    else:
        pattern = _standardize(coarse).mul_(0.6).add_(_standardize(needles)).add_(grain.mul_(0.25))
    d, s = _centred(pattern)
    mean = torch.tensor(FROST_MEAN_RGB, dtype=dt, device=like.device)[style]  # N × 3
    std = torch.tensor(FROST_STD, dtype=dt, device=like.device)[style]
    return d, s, mean, std


def frost_texture(n: int, channels: int, h: int, w: int, g: Optional[torch.Generator],
                  like: torch.Tensor) -> torch.Tensor:
    """N frost textures (N×C×H×W in [0, 1]) standing in for the randomly cropped frost photos.

    A grey pattern = coarse plasma fractal (the photos' slow brightness changes) + fine ice
    needles (sparse seeds streaked along 3 random directions, the max of the three, with the
    motion-blur line of ``_filters``) + grain. The needle length grows with the image (1/16 of
    the side, at least 5 px) because the original crops a similar share of the photo at 32 px
    (0.2× photo) and at 224 px (full photo). The pattern is standardized and given, per image,
    the mean colour and contrast of one of the five photos drawn uniformly, like the original's
    ``randint(5)``.
    """
    d, s, mean, std = frost_pattern(n, h, w, g, like)
    tex = torch.addcmul(mean.view(n, 3, 1, 1), std.view(n, 1, 1, 1), d.div_(s).unsqueeze(1),
                        out=new_buffer((n, 3, h, w), like))
    if channels == 1:
        wts = torch.tensor([0.2989, 0.5870, 0.1140], dtype=like.dtype, device=like.device)
        tex = (tex * wts.view(1, 3, 1, 1)).sum(1, keepdim=True)  # imagecorruptions' rgb2gray
    return tex.clamp_(0, 1)
