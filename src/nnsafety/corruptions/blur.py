"""Blur corruptions: defocus, glass, motion, zoom, gaussian.

Parameters: CIFAR-10-C from ``make_cifar_c.py``, ImageNet-C from ``make_imagenet_c.py``
(github.com/hendrycks/robustness, ``ImageNet-C/create_c/``); each table is cited next to its
corruption. All act on the batch at once; per-image randomness (glass swaps, motion angles) is
handled with index gathers.
"""
from __future__ import annotations

import math
import warnings
from functools import lru_cache
from typing import List

import torch

from . import _filters as flt
from .base import randint, register_corruption, uniform


def np_arange(start: float, stop: float, step: float) -> List[float]:
    """``np.arange`` in plain floats (same length rule: ceil((stop − start) / step))."""
    n = math.ceil((stop - start) / step)
    return [start + i * step for i in range(n)]


# make_cifar_c.py: c = [(0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)]
# make_imagenet_c.py: c = [(3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5)]
@register_corruption("defocus_blur", cifar=[(0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)],
                     imagenet=[(3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5)])
def defocus_blur(x: torch.Tensor, c: tuple, g) -> torch.Tensor:
    """Correlate with an anti-aliased disk of radius c[0] px (``cv2.filter2D``, reflect-101 border)."""
    return flt.correlate2d(x, flt.disk_kernel(c[0], c[1]), "reflect101")


def glass_offsets(x: torch.Tensor, iterations: int, max_delta: int, g) -> torch.Tensor:
    """The random (dy, dx) per pixel and iteration: ``np.random.randint(-d, d)``, i.e. in [−d, d)."""
    n, _, h, w = x.shape
    return randint(-max_delta, max_delta, (iterations, n, 2, h, w), g, x)


def glass_shuffle(x: torch.Tensor, offsets: torch.Tensor, max_delta: int) -> torch.Tensor:
    """The original's local pixel swaps, with its exact sequential semantics, batched.

    The original visits h = H−d .. d+1 (descending), and in each row w = W−d .. d+1, swapping
    pixel (h, w) with (h + dy, w + dx), dy, dx in [−d, d), each swap seeing the previous ones. Two
    swaps can only interact when their pixels overlap, i.e. when they are less than 2d rows and
    2d columns apart. Scheduling position (h, w) at time t = 2d·(H − h) + (W − w) keeps every
    overlapping pair in the original order, and positions sharing a time are ≥ 2d columns apart,
    so their swaps are disjoint and run as one gather/scatter over the whole batch. This gives
    exactly the sequential result in ≈ 2d·H + W steps instead of H·W.
    """
    n, c, h, w = x.shape
    d = int(max_delta)
    rows = torch.arange(h - d, d, -1, device=x.device)
    cols = torch.arange(w - d, d, -1, device=x.device)
    if rows.numel() == 0 or cols.numel() == 0:
        return x
    hh, ww = torch.meshgrid(rows, cols, indexing="ij")
    hh, ww = hh.reshape(-1), ww.reshape(-1)
    t = 2 * d * (h - hh) + (w - ww)
    order = torch.argsort(t, stable=True)
    hh, ww, t = hh[order], ww[order], t[order]
    counts = torch.bincount(t - t.min())
    counts = counts[counts > 0]
    ends = torch.cumsum(counts, 0)
    starts = ends - counts
    # per step s the slots [2·start, 2·end) hold (p..., q...): gathering there and scattering to
    # (q..., p...) swaps every pair of the step with one gather and one scatter
    step_of = torch.repeat_interleave(torch.arange(counts.numel(), device=x.device), counts)
    j = torch.arange(hh.numel(), device=x.device)
    slot_p = starts[step_of] + j
    slot_q = slot_p + counts[step_of]
    p_all = (hh * w + ww).expand(n, -1)
    flat = x.reshape(n, c, h * w).clone()
    bounds = (2 * ends).tolist()
    for it in range(offsets.shape[0]):
        dy, dx = offsets[it, :, 0], offsets[it, :, 1]
        q_all = (hh + dy[:, hh, ww]) * w + (ww + dx[:, hh, ww])  # N × positions
        src = torch.empty(n, 2 * hh.numel(), dtype=torch.long, device=x.device)
        dst = torch.empty_like(src)
        src[:, slot_p], src[:, slot_q] = p_all, q_all
        dst[:, slot_p], dst[:, slot_q] = q_all, p_all
        lo = 0
        for hi in bounds:
            si = src[:, lo:hi].unsqueeze(1).expand(n, c, hi - lo)
            di = dst[:, lo:hi].unsqueeze(1).expand(n, c, hi - lo)
            flat.scatter_(2, di, flat.gather(2, si))
            lo = hi
    return flat.view(n, c, h, w)


# make_cifar_c.py: (sigma, max_delta, iterations) =
#   [(0.05,1,1), (0.25,1,1), (0.4,1,1), (0.25,1,2), (0.4,1,2)]
# make_imagenet_c.py: [(0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2)]
@register_corruption("glass_blur", cifar=[(0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2)],
                     imagenet=[(0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2)])
def glass_blur(x: torch.Tensor, c: tuple, g) -> torch.Tensor:
    """Gaussian blur (σ = c[0]), uint8 truncation as the original, local swaps, blur again."""
    sigma, delta, iters = c
    y = torch.floor(flt.gaussian_filter(x, sigma) * 255) / 255
    y = glass_shuffle(y, glass_offsets(x, iters, delta, g), delta)
    return flt.gaussian_filter(y, sigma)


# make_cifar_c.py: (radius, sigma) = [(6,1), (6,1.5), (6,2), (8,2), (9,2.5)]
# make_imagenet_c.py: [(10, 3), (15, 5), (15, 8), (15, 12), (20, 15)]; angle ~ U(-45, 45) degrees
@register_corruption("motion_blur", cifar=[(6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5)],
                     imagenet=[(10, 3), (15, 5), (15, 8), (15, 12), (20, 15)])
def motion_blur(x: torch.Tensor, c: tuple, g) -> torch.Tensor:
    """ImageMagick ``-motion-blur radius x sigma + angle`` with one angle ~ U(−45°, 45°) per image."""
    angle = uniform(-45.0, 45.0, (x.shape[0],), g, x)
    return flt.motion_blur(x, c[0], c[1], angle)


@lru_cache(maxsize=32)
def zoom_blur_operator(h: int, w: int, zooms: tuple) -> torch.Tensor:
    """(I + Σ_z A_z ⊗ B_z) / (#z + 1) as a sparse CSR (H·W)×(H·W) matrix.

    Each clipped zoom is bilinear, so an output pixel reads ≤ 4 input pixels per zoom, and the
    zooms overlap: ≈ 10 non-zeros per row at 32 px. One sparse × dense product replaces #z dense
    resamplings of the batch.
    """
    rows, cols, vals = [torch.arange(h * w)], [torch.arange(h * w)], [torch.ones(h * w, dtype=torch.float64)]
    for z in zooms:
        a, b = flt.zoom_matrix(h, z).to_sparse_coo(), flt.zoom_matrix(w, z).to_sparse_coo()
        (ai, ak), av = a.indices(), a.values()
        (bj, bl), bv = b.indices(), b.values()
        rows.append((ai.view(-1, 1) * w + bj.view(1, -1)).reshape(-1))
        cols.append((ak.view(-1, 1) * w + bl.view(1, -1)).reshape(-1))
        vals.append((av.view(-1, 1) * bv.view(1, -1)).reshape(-1))
    k = torch.sparse_coo_tensor(torch.stack([torch.cat(rows), torch.cat(cols)]),
                                torch.cat(vals) / (len(zooms) + 1), (h * w, h * w),
                                check_invariants=False).coalesce()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "sparse CSR support is in beta"
        return k.to_sparse_csr()


# make_cifar_c.py: zooms = [np.arange(1, 1.06, 0.01), np.arange(1, 1.11, 0.01),
#   np.arange(1, 1.16, 0.01), np.arange(1, 1.21, 0.01), np.arange(1, 1.26, 0.01)]
# make_imagenet_c.py: [np.arange(1, 1.11, 0.01), np.arange(1, 1.16, 0.01), np.arange(1, 1.21, 0.02),
#   np.arange(1, 1.26, 0.02), np.arange(1, 1.31, 0.03)]
@register_corruption(
    "zoom_blur",
    cifar=[(1, 1.06, 0.01), (1, 1.11, 0.01), (1, 1.16, 0.01), (1, 1.21, 0.01), (1, 1.26, 0.01)],
    imagenet=[(1, 1.11, 0.01), (1, 1.16, 0.01), (1, 1.21, 0.02), (1, 1.26, 0.02), (1, 1.31, 0.03)],
)
def zoom_blur(x: torch.Tensor, c: tuple, g) -> torch.Tensor:
    """(x + Σ_z clipped_zoom(x, z)) / (#z + 1) over z = np.arange(start, stop, step)."""
    n, ch, h, w = x.shape
    k = zoom_blur_operator(h, w, tuple(np_arange(*c)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        k = k.to(x.device, x.dtype)
    return torch.sparse.mm(k, x.reshape(n * ch, h * w).t()).t().reshape(n, ch, h, w)


# make_cifar_c.py: sigma = [.4, .6, 0.7, .8, 1]; make_imagenet_c.py: [1, 2, 3, 4, 6]
@register_corruption("gaussian_blur", cifar=[0.4, 0.6, 0.7, 0.8, 1.0], imagenet=[1, 2, 3, 4, 6])
def gaussian_blur(x: torch.Tensor, c: tuple, g) -> torch.Tensor:
    """skimage ``gaussian(x, sigma=c)``: truncate 4σ, edge pixels replicated."""
    return flt.gaussian_filter(x, c[0])
