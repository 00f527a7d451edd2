"""Noise corruptions: gaussian, shot (Poisson), impulse (salt & pepper), speckle.

Parameters: CIFAR-10-C from ``make_cifar_c.py``, ImageNet-C from ``make_imagenet_c.py``
(github.com/hendrycks/robustness, ``ImageNet-C/create_c/``). All four are pixel-wise and act on
every channel of every pixel independently, as the originals do on the H×W×3 array.
"""
from __future__ import annotations

import math

import torch

from ._poisson import poisson_levels, uint8_levels
from .base import poisson, rand, randn, register_corruption


# make_cifar_c.py: c = [0.04, 0.06, .08, .09, .10]; make_imagenet_c.py: [.08, .12, 0.18, 0.26, 0.38]
@register_corruption("gaussian_noise", cifar=[0.04, 0.06, 0.08, 0.09, 0.10],
                     imagenet=[0.08, 0.12, 0.18, 0.26, 0.38], scale_free=True)
def gaussian_noise(x: torch.Tensor, c: tuple, g) -> torch.Tensor:
    """x + N(0, c²) per pixel and channel (c in [0, 1] intensity units)."""
    return randn(x.shape, g, x).mul_(c[0]).add_(x)  # = x + c·n bit for bit, without temporaries


# make_cifar_c.py: c = [500, 250, 100, 75, 50]; make_imagenet_c.py: [60, 25, 12, 5, 3]
@register_corruption("shot_noise", cifar=[500, 250, 100, 75, 50],
                     imagenet=[60, 25, 12, 5, 3], scale_free=True)
def shot_noise(x: torch.Tensor, c: tuple, g) -> torch.Tensor:
    """Poisson(c·x) / c: photon counting with c photons at full intensity.

    uint8-valued images (every value a multiple of 1/255, as dataset images are) with draws on
    the CPU take the table-inversion sampler of ``_poisson`` (same law, ~2× cheaper than
    ``torch.poisson``); any other input uses ``torch.poisson``.
    """
    if g is None or g.device.type == "cpu":
        if g is not None or x.device.type == "cpu":
            levels = uint8_levels(x.cpu())  # the sampler's tables and draws live on the CPU
            if levels is not None:
                # counts overwrite the levels buffer chunk by chunk: no second batch-sized buffer
                out = levels if levels.dtype == torch.float32 else None
                return poisson_levels(levels, c[0], g, out=out).to(x.device, x.dtype).div_(c[0])
    return poisson(x * c[0], g) / c[0]


# make_cifar_c.py: c = [.01, .02, .03, .05, .07]; make_imagenet_c.py: [.03, .06, .09, 0.17, 0.27]
@register_corruption("impulse_noise", cifar=[0.01, 0.02, 0.03, 0.05, 0.07],
                     imagenet=[0.03, 0.06, 0.09, 0.17, 0.27], scale_free=True)
def impulse_noise(x: torch.Tensor, c: tuple, g) -> torch.Tensor:
    """skimage ``random_noise(mode='s&p', amount=c)``: a fraction c of values set to 0 or 1 (50/50).

    Like skimage, each value (pixel × channel) is flipped independently with probability c, then
    set to 1 or 0 with probability 1/2 each; the flipped positions come from geometric gaps.
    """
    n = x.numel()
    pos = bernoulli_positions(n, c[0], g, x)
    salt = rand((pos.numel(),), g, x) < 0.5
    flat = x.reshape(-1).clone()
    flat[pos] = salt.to(x.dtype)
    return flat.view_as(x)


def bernoulli_positions(n: int, p: float, g, like: torch.Tensor) -> torch.Tensor:
    """Sorted indices where n independent Bernoulli(p) trials succeed, drawn by geometric gaps.

    The gap to the next success is Geometric(p), floor(log u / log(1 − p)) + 1, so only ≈ p·n
    uniforms are drawn instead of n: the same law as one uniform per value, ~1/p times cheaper.
    """
    ref = like.new_empty(0, dtype=torch.float64)
    if p >= 0.5:
        return torch.nonzero(rand((n,), g, like) < p).flatten()
    log_q = math.log1p(-p)
    chunks, last = [], -1.0
    while True:
        m = int(n * p + 6 * math.sqrt(n * p) + 16)
        gaps = torch.floor(torch.log1p(-rand((m,), g, ref)) / log_q) + 1
        pos = last + torch.cumsum(gaps, 0)
        chunks.append(pos[pos < n])
        if pos[-1] >= n:
            break
        last = float(pos[-1])
    return torch.cat(chunks).long()


# make_cifar_c.py: c = [.06, .1, .12, .16, .2]; make_imagenet_c.py: [.15, .2, 0.35, 0.45, 0.6]
@register_corruption("speckle_noise", cifar=[0.06, 0.1, 0.12, 0.16, 0.2],
                     imagenet=[0.15, 0.2, 0.35, 0.45, 0.6], scale_free=True)
def speckle_noise(x: torch.Tensor, c: tuple, g) -> torch.Tensor:
    """x + x·N(0, c²): multiplicative noise."""
    return randn(x.shape, g, x).mul_(c[0]).mul_(x).add_(x)  # = x + x·(c·n) bit for bit, in place
