"""Weather corruptions: snow, frost, fog (spatter lives in ``spatter.py``).

Parameters: CIFAR-10-C from ``make_cifar_c.py``, ImageNet-C from ``make_imagenet_c.py``
(github.com/hendrycks/robustness, ``ImageNet-C/create_c/``).
"""
from __future__ import annotations

import torch

from . import _filters as flt, _jit
from ._buffers import new_buffer
from .base import randn, register_corruption, rgb_to_gray, uniform
from .textures import frost_pattern, frost_texture, next_power_of_2, plasma_fractal


# make_cifar_c.py: (loc, scale, zoom, threshold, blur radius, blur sigma, blend) =
#   [(0.1,0.2,1,0.6,8,3,0.95), (0.1,0.2,1,0.5,10,4,0.9), (0.15,0.3,1.75,0.55,10,4,0.9),
#    (0.25,0.3,2.25,0.6,12,6,0.85), (0.3,0.3,1.25,0.65,14,12,0.8)]
# make_imagenet_c.py: [(0.1, 0.3, 3, 0.5, 10, 4, 0.8), (0.2, 0.3, 2, 0.5, 12, 4, 0.7),
#    (0.55, 0.3, 4, 0.9, 12, 8, 0.7), (0.55, 0.3, 4.5, 0.85, 12, 8, 0.65),
#    (0.55, 0.3, 2.5, 0.85, 12, 12, 0.55)]
@register_corruption(
    "snow",
    cifar=[(0.1, 0.2, 1, 0.6, 8, 3, 0.95), (0.1, 0.2, 1, 0.5, 10, 4, 0.9),
           (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9), (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85),
           (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8)],
    imagenet=[(0.1, 0.3, 3, 0.5, 10, 4, 0.8), (0.2, 0.3, 2, 0.5, 12, 4, 0.7),
              (0.55, 0.3, 4, 0.9, 12, 8, 0.7), (0.55, 0.3, 4.5, 0.85, 12, 8, 0.65),
              (0.55, 0.3, 2.5, 0.85, 12, 12, 0.55)],
)
def snow(x: torch.Tensor, c: tuple, g) -> torch.Tensor:
    """Falling snow: thresholded zoomed Gaussian flakes, motion-blurred at U(−135°, −45°).

    x ← c6·x + (1−c6)·max(x, 1.5·gray(x) + 0.5) (whitening), then x + flakes + flakes rotated
    by 180°. The flake layer is quantized to uint8 before and after the blur, as the original's
    PNG round trip through ImageMagick does.
    """
    n, ch, h, w = x.shape
    layer = c[0] + c[1] * randn((n, 1, h, w), g, x)
    layer = flt.apply_separable(layer, flt.zoom_matrix(h, c[2]), flt.zoom_matrix(w, c[2]))
    layer = torch.where(layer < c[3], torch.zeros_like(layer), layer)
    layer = torch.floor(layer.clamp(0, 1) * 255) / 255
    angle = uniform(-135.0, -45.0, (n,), g, x)
    layer = torch.round(flt.motion_blur(layer, c[4], c[5], angle) * 255) / 255
    x = c[6] * x + (1 - c[6]) * torch.maximum(x, rgb_to_gray(x) * 1.5 + 0.5)
    return x + layer + torch.flip(layer, dims=(2, 3))


# make_cifar_c.py: (image weight, frost weight) = [(1, 0.2), (1, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45)]
# make_imagenet_c.py: [(1, 0.4), (0.8, 0.6), (0.7, 0.7), (0.65, 0.7), (0.6, 0.75)]
@register_corruption("frost", cifar=[(1, 0.2), (1, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45)],
                     imagenet=[(1, 0.4), (0.8, 0.6), (0.7, 0.7), (0.65, 0.7), (0.6, 0.75)], in_range=True)
def frost(x: torch.Tensor, c: tuple, g) -> torch.Tensor:
    """c0·x + c1·frost, clamped, with the procedural ``textures.frost_texture`` instead of the photos."""
    n, ch, h, w = x.shape
    if ch == 3 and _jit.usable(x):  # colour, blend and clamps in one compiled pass (same pixels, tested)
        from ._jit_frost import blend
        return blend(x, *frost_pattern(n, h, w, g, x), c[0], c[1])
    return frost_texture(n, ch, h, w, g, x).mul_(c[1]).add_(x, alpha=c[0]).clamp_(0, 1)


# make_cifar_c.py: (fog weight, wibble decay) = [(.2,3), (.5,3), (0.75,2.5), (1,2), (1.5,1.75)]
# make_imagenet_c.py: [(1.5, 2), (2, 2), (2.5, 1.7), (2.5, 1.5), (3, 1.4)]
@register_corruption("fog", cifar=[(0.2, 3), (0.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75)],
                     imagenet=[(1.5, 2), (2, 2), (2.5, 1.7), (2.5, 1.5), (3, 1.4)])
def fog(x: torch.Tensor, c: tuple, g) -> torch.Tensor:
    """(x + c0·plasma) · max(x) / (max(x) + c0), one plasma fractal per image, shared by channels.

    The map side is the next power of 2 of the larger image side (32 for CIFAR, 256 for 224-px
    ImageNet, as in the originals; ``imagecorruptions``' rule for other sizes), cropped top-left.
    """
    n, ch, h, w = x.shape
    plasma = plasma_fractal(n, next_power_of_2(max(h, w)), c[1], g, x)[:, :h, :w]
    haze = new_buffer((n, h, w), x).copy_(plasma).mul_(c[0])  # the map in x's type, times c0
    max_val = x.amax(dim=(1, 2, 3), keepdim=True)
    # (x + haze)·max / (max + c0) in place on one buffer: the same operations, no batch-sized temporaries
    return torch.add(x, haze.unsqueeze(1), out=new_buffer(x.shape, x)).mul_(max_val).div_(max_val + c[0])
