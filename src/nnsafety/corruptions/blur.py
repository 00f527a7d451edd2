"""Blur corruptions: defocus, glass, motion, zoom, gaussian.

Parameters: CIFAR-10-C from ``make_cifar_c.py``, ImageNet-C from ``make_imagenet_c.py``
(github.com/hendrycks/robustness, ``ImageNet-C/create_c/``); each table is cited next to its
corruption. All act on the batch at once; per-image randomness (glass offsets, motion angles) is
handled with index gathers.
"""
from __future__ import annotations

import warnings
from functools import lru_cache
from typing import List

import numpy as np
import torch

from . import _filters as flt
from .base import randint, register_corruption, uniform


def np_arange(start: float, stop: float, step: float) -> List[float]:
    """The zoom factors exactly as the originals get them: ``np.arange(start, stop, step)``.

    NumPy fills the range as start + i·((start + step) − start), not start + i·step: for
    ``np.arange(1, 1.26, 0.01)`` the last factor is 1.2500000000000002, and SciPy's output length
    round(ch·z) then differs from what z = 1.25 gives (33 vs 32 rows at 32 px). NumPy itself is
    called so the factors are the running NumPy's bit for bit.
    """
    return np.arange(start, stop, step).tolist()


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
    """The published pixel "swap" loop, with the semantics it really has, batched.

    ``make_cifar_c.py`` / ``make_imagenet_c.py`` (and imagecorruptions) visit h = H−d .. d+1
    (descending), in each row w = W−d .. d+1, and run ``x[h, w], x[h', w'] = x[h', w'], x[h, w]``
    with (h', w') = (h + dy, w + dx), dy, dx in [−d, d). On an H×W×3 NumPy array both right-hand
    items are *views*: the first assignment copies pixel q = (h', w') into p = (h, w), and the
    second copies p's new value back into q, a no-op. So the loop is a one-way copy x[p] ← x[q]
    in visiting order, and every published CIFAR-10-C / ImageNet-C file was made that way.

    Sequentially, p reads q's value at p's turn: q's final value if q was visited earlier
    (visits write each pixel once), else q's value before the pass. So final[p] = final[q] when q
    was visited before p, otherwise before[q]. Following these links to their end is a pointer
    chase, done for the whole batch by pointer doubling (≈ log2 of the longest chain gathers)
    instead of H·W sequential steps.
    """
    n, c, h, w = x.shape
    d = int(max_delta)
    rows = torch.arange(h - d, d, -1, device=x.device)
    cols = torch.arange(w - d, d, -1, device=x.device)
    if rows.numel() == 0 or cols.numel() == 0:
        return x
    # rank of each pixel in the visiting order; −1: never visited
    rank = torch.full((h, w), -1, dtype=torch.long, device=x.device)
    order = torch.arange(rows.numel() * cols.numel(), device=x.device).view(rows.numel(), cols.numel())
    rank[rows.view(-1, 1), cols.view(1, -1)] = order
    rank, visited = rank.view(-1), (rank >= 0).view(-1)
    p = torch.arange(h * w, device=x.device).expand(n, -1)
    flat = x.reshape(n, c, h * w)
    for it in range(offsets.shape[0]):
        dy, dx = offsets[it, :, 0].reshape(n, -1), offsets[it, :, 1].reshape(n, -1)
        q = torch.where(visited, p + dy * w + dx, p)  # the pixel p reads (itself if unvisited)
        rq = rank[q]
        ptr = torch.where(visited & (rq >= 0) & (rq < rank), q, p)  # q written before p's turn
        while True:
            nxt = ptr.gather(1, ptr)
            if torch.equal(nxt, ptr):
                break
            ptr = nxt
        src = q.gather(1, ptr)
        flat = flat.gather(2, src.unsqueeze(1).expand(n, c, h * w))
    return flat.view(n, c, h, w)


# make_cifar_c.py: (sigma, max_delta, iterations) =
#   [(0.05,1,1), (0.25,1,1), (0.4,1,1), (0.25,1,2), (0.4,1,2)]
# make_imagenet_c.py: [(0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2)]
@register_corruption("glass_blur", cifar=[(0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2)],
                     imagenet=[(0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2)])
def glass_blur(x: torch.Tensor, c: tuple, g) -> torch.Tensor:
    """Gaussian blur (σ = c[0]), uint8 truncation as the original, the published loop's local
    one-way pixel copies (not swaps: see ``glass_shuffle``), blur again."""
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
