"""AugMix (Hendrycks et al., ICLR 2020) as batched torch ops on N×C×H×W images in [0, 1].

The nine operations of the reference code (``augmentations.py`` of google-research/augmix):
autocontrast, equalize, posterize, rotate, solarize, shear_x/y, translate_x/y. Contrast, color,
brightness and sharpness are left out, as in the paper, because they overlap the test corruptions.
Pixel ops follow PIL on 8-bit values (equalize is PIL's ``ImageOps.equalize`` lookup table, which
is the identity when a channel has fewer than 256 pixels, e.g. 8×8 digits); geometric ops sample
bilinearly with black fill in PIL's pixel-corner coordinates. Magnitudes follow the reference:
level ~ U(0.1, severity), posterize bits 4 − ⌊0.4·level⌋, solarize threshold 256 − ⌊25.6·level⌋,
rotate 3·level degrees, shear 0.03·level, translate level·side/30 pixels, random sign for the last
three. Deviation: rotate and translate keep the continuous magnitude where PIL truncates to whole
degrees/pixels (otherwise translation is a no-op on 8-pixel images).
"""
from __future__ import annotations

import math
from typing import Optional, Union

import torch
import torch.nn.functional as F

from .._validation import check_images
from .. import _random

OPS = ("autocontrast", "equalize", "posterize", "rotate", "solarize",
       "shear_x", "shear_y", "translate_x", "translate_y")
_GEOMETRIC = ("rotate", "shear_x", "shear_y", "translate_x", "translate_y")
Param = Union[float, torch.Tensor]


def _per_image(v: Param, x: torch.Tensor) -> torch.Tensor:
    """A float or an (N,) tensor as an (N,) float tensor on x's device."""
    return torch.as_tensor(v, dtype=x.dtype, device=x.device).expand(x.shape[0]).clone()


def _quantize(x: torch.Tensor) -> torch.Tensor:
    """8-bit values 0..255 (as floats) of [0, 1] pixels, as PIL sees the image."""
    return (x * 255.0).round_().clamp_(0.0, 255.0)


# ------------------------------------------------------------------ pixel operations
def autocontrast(x: torch.Tensor) -> torch.Tensor:
    """Stretch each channel of each image to [0, 1]: (x − min)/(max − min); constant channels unchanged."""
    lo = x.amin(dim=(2, 3), keepdim=True)
    hi = x.amax(dim=(2, 3), keepdim=True)
    span = hi - lo
    out = (x - lo) / span.clamp_min(1e-12)
    return torch.where(span > 0, out, x).clamp_(0.0, 1.0)


def equalize(x: torch.Tensor) -> torch.Tensor:
    """PIL histogram equalization per channel on 8-bit values.

    lut[i] = ⌊(step//2 + Σ_{j<i} h_j) / step⌋ with step = ⌊(Σh − h_last)/255⌋ (h_last: count of the
    brightest present value); identity when step = 0 or only one value is present.
    """
    n, c, hgt, wdt = x.shape
    q = _quantize(x).long().reshape(n * c, hgt * wdt)
    hist = torch.zeros(n * c, 256, dtype=torch.long, device=x.device).scatter_add_(1, q, torch.ones_like(q))
    last = 255 - torch.flip(hist > 0, dims=[1]).long().argmax(dim=1)
    step = (hist.sum(1) - hist.gather(1, last[:, None]).squeeze(1)) // 255
    before = torch.cumsum(hist, dim=1) - hist
    lut = ((step[:, None] // 2 + before) // step.clamp_min(1)[:, None]).clamp_(max=255)
    mapped = lut.gather(1, q).to(x.dtype) / 255.0
    out = torch.where((step > 0)[:, None], mapped, x.reshape(n * c, -1))
    return out.reshape(n, c, hgt, wdt)


def posterize(x: torch.Tensor, bits: Param) -> torch.Tensor:
    """Keep the top ``bits`` (0..8, per image) of each 8-bit value: ⌊q / 2^(8−b)⌋·2^(8−b) / 255."""
    b = _per_image(bits, x)
    if ((b < 0) | (b > 8)).any():
        raise ValueError(f"expected posterize bits in [0, 8], got {b.tolist()}")
    s = torch.pow(2.0, 8.0 - b).reshape(-1, 1, 1, 1)
    return torch.floor(_quantize(x) / s) * s / 255.0


def solarize(x: torch.Tensor, threshold: Param) -> torch.Tensor:
    """Invert pixels at or above ``threshold`` (8-bit units 0..256, per image): x ↦ 1 − x."""
    t = _per_image(threshold, x).reshape(-1, 1, 1, 1) / 255.0
    return torch.where(x < t, x, 1.0 - x)


# ------------------------------------------------------------------ geometric operations
def affine(x: torch.Tensor, matrix: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
    """out(p) = x(A·p + t): bilinear, black outside; p in pixel units (x right, y down, origin at
    the top-left corner, pixel centres at i + 0.5) like PIL's ``Image.transform(AFFINE)``.

    ``matrix`` A is N×2×2, ``offset`` t is N×2 (pixels). Converted to ``affine_grid``'s [−1, 1]
    coordinates with D = diag(W/2, H/2): θ = [D⁻¹AD | D⁻¹(A·D·1 + t) − 1].
    """
    n, _, hgt, wdt = x.shape
    d = torch.tensor([wdt / 2.0, hgt / 2.0], dtype=x.dtype, device=x.device)
    a = matrix.to(x)
    lin = a * d[None, None, :] / d[None, :, None]
    off = ((a @ d) + offset.to(x)) / d - 1.0
    theta = torch.cat([lin, off[:, :, None]], dim=2)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out.clamp_(0.0, 1.0)


def _geometry(name: str, v: torch.Tensor, hgt: int, wdt: int):
    """(A, t) of a geometric op with per-image magnitude v (degrees, shear factor or pixels)."""
    n = v.shape[0]
    eye = torch.eye(2, dtype=v.dtype, device=v.device).expand(n, 2, 2).clone()
    t = torch.zeros(n, 2, dtype=v.dtype, device=v.device)
    if name == "rotate":  # counter-clockwise about the centre (PIL): input = c + R(θ)ᵀ(p − c)
        r = v * (math.pi / 180.0)
        cos, sin = torch.cos(r), torch.sin(r)
        eye = torch.stack([torch.stack([cos, -sin], 1), torch.stack([sin, cos], 1)], 1)
        c = torch.tensor([wdt / 2.0, hgt / 2.0], dtype=v.dtype, device=v.device)
        t = c - eye @ c
    elif name == "shear_x":  # PIL data (1, v, 0, 0, 1, 0): input x = x + v·y
        eye[:, 0, 1] = v
    elif name == "shear_y":
        eye[:, 1, 0] = v
    elif name == "translate_x":  # input x = x + v (PIL data (1, 0, v, 0, 1, 0))
        t[:, 0] = v
    elif name == "translate_y":
        t[:, 1] = v
    else:
        raise ValueError(f"unknown geometric op {name!r}; expected one of: {', '.join(_GEOMETRIC)}")
    return eye, t


def _geometric_op(name: str):
    def op(x: torch.Tensor, magnitude: Param) -> torch.Tensor:
        a, t = _geometry(name, _per_image(magnitude, x), x.shape[2], x.shape[3])
        return affine(x, a, t)

    op.__name__ = name
    op.__doc__ = f"{name} with a per-image magnitude (degrees for rotate, factor for shear, pixels for translate)."
    return op


rotate = _geometric_op("rotate")
shear_x = _geometric_op("shear_x")
shear_y = _geometric_op("shear_y")
translate_x = _geometric_op("translate_x")
translate_y = _geometric_op("translate_y")


# ------------------------------------------------------------------ random application
def _magnitude(name: str, level: torch.Tensor, sign: torch.Tensor, hgt: int, wdt: int) -> torch.Tensor:
    """The reference code's level -> parameter maps (see module docstring)."""
    if name == "posterize":
        return 4.0 - torch.floor(level * 4.0 / 10.0)
    if name == "solarize":
        return 256.0 - torch.floor(level * 256.0 / 10.0)
    if name == "rotate":
        return sign * level * 3.0
    if name in ("shear_x", "shear_y"):
        return sign * level * 0.03
    if name == "translate_x":
        return sign * level * wdt / 30.0
    if name == "translate_y":
        return sign * level * hgt / 30.0
    return level


def apply_random_ops(x: torch.Tensor, severity: float, generator: Optional[torch.Generator],
                     active: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Apply one uniformly chosen op per image (level ~ U(0.1, severity)); ``active`` masks images."""
    n, _, hgt, wdt = x.shape
    op = _random.randint(0, len(OPS), (n,), generator, x.device)
    level = 0.1 + (severity - 0.1) * _random.rand((n,), generator, x.device, x.dtype)
    sign = torch.where(_random.rand((n,), generator, x.device) < 0.5, -1.0, 1.0).to(x.dtype)
    if active is not None:
        op = torch.where(active, op, -1)
    out = x.clone()
    geo_idx, geo_a, geo_t = [], [], []
    for j, name in enumerate(OPS):
        idx = (op == j).nonzero().squeeze(1)
        if idx.numel() == 0:
            continue
        mag = _magnitude(name, level[idx], sign[idx], hgt, wdt)
        if name in _GEOMETRIC:  # all geometric ops of this step share one grid_sample call
            a, t = _geometry(name, mag, hgt, wdt)
            geo_idx.append(idx), geo_a.append(a), geo_t.append(t)
        elif name == "autocontrast":
            out[idx] = autocontrast(x[idx])
        elif name == "equalize":
            out[idx] = equalize(x[idx])
        elif name == "posterize":
            out[idx] = posterize(x[idx], mag)
        else:
            out[idx] = solarize(x[idx], mag)
    if geo_idx:
        idx = torch.cat(geo_idx)
        out[idx] = affine(x[idx], torch.cat(geo_a), torch.cat(geo_t))
    return out


def augmix(x: torch.Tensor, severity: float = 3, width: int = 3, depth: int = -1, alpha: float = 1.0,
           generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """AugMix: A(x) = m·x + (1 − m)·Σᵢ wᵢ·chainᵢ(x), per image w ~ Dirichlet(α), m ~ Beta(α, α).

    ``width`` chains, each of ``depth`` random ops (−1: depth uniform in {1, 2, 3} per image and
    chain), ops at level U(0.1, ``severity``). m weights the original image; Beta(α, α) is symmetric,
    so this equals the reference code's (1 − m)·x + m·mix in distribution.
    """
    check_images(x, allow_2d=False)
    if not (0 < severity <= 10 and width >= 1 and (depth == -1 or depth >= 1) and alpha > 0):
        raise ValueError(f"expected 0 < severity <= 10, width >= 1, depth -1 or >= 1, alpha > 0, "
                         f"got {severity}, {width}, {depth}, {alpha}")
    n = x.shape[0]
    w = _random.dirichlet([alpha] * width, n, generator).to(x)
    m = _random.beta(alpha, alpha, generator, size=n).to(x).reshape(-1, 1, 1, 1)
    mixed = torch.zeros_like(x)
    for i in range(width):
        d = (_random.randint(1, 4, (n,), generator, x.device) if depth == -1
             else torch.full((n,), depth, device=x.device))
        chain = x
        for s in range(int(d.max())):
            chain = apply_random_ops(chain, severity, generator, active=d > s)
        mixed += w[:, i].reshape(-1, 1, 1, 1) * chain
    return (m * x + (1 - m) * mixed).clamp_(0.0, 1.0)
