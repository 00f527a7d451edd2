"""Data-free stand-ins for clean samples: class prototypes synthesized from the weights alone."""
from __future__ import annotations

from typing import Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from ...metrics.noise_response import NOISE_FAMILIES


def class_prototypes(model: nn.Module, in_shape: Sequence[int], num_classes: int, per_class: int = 4,
                     steps: int = 40, lr: float = 0.1, sigma: float = 0.3, tv: float = 0.05,
                     generator: torch.Generator | None = None) -> Tuple[torch.Tensor, torch.Tensor]:
    """``per_class`` images per class that the model assigns to that class (model inversion).

    Start from grey + N(0, σ²) noise, parameterize x = σ(z) so it stays in [0, 1], and minimise
    CE(f(x), c) + tv·total variation (smooth images, not adversarial speckle) with Adam, all classes
    in one batch. Returns (x, c) with x of shape (K·per_class)×C×H×W. Used as base images by the
    data-free detectors: a prototype lies deep inside its class region, so moving it to another class
    takes a real trigger, whereas noise around grey falls into whatever class "absorbs" noise.
    """
    g = generator or torch.Generator().manual_seed(0)
    shape = (num_classes * per_class, *[int(s) for s in in_shape])
    x0 = (0.5 + sigma * torch.randn(shape, generator=g)).clamp(0.02, 0.98)
    z = torch.log(x0 / (1 - x0)).requires_grad_(True)
    c = torch.arange(num_classes).repeat_interleave(per_class)
    opt = torch.optim.Adam([z], lr=lr)
    for _ in range(steps):
        x = torch.sigmoid(z)
        loss = F.cross_entropy(model(x), c)
        if tv > 0 and x.dim() == 4:
            loss = loss + tv * ((x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (x[..., 1:] - x[..., :-1]).abs().mean())
        (z.grad,) = torch.autograd.grad(loss, [z])
        opt.step()
    return torch.sigmoid(z).detach(), c


PROBE_BASES = ("grey", "black", "white", "constant", "uniform")
PROBE_FAMILIES = ("gaussian", "salt_and_pepper", "lowfreq2", "lowfreq4")
PROBE_LEVELS = (0.1, 0.2, 0.35, 0.5, 0.75, 1.0)


def noise_probe_bank(in_shape: Sequence[int], n_probes: int = 50, levels: Sequence[float] = PROBE_LEVELS,
                     generator: torch.Generator | None = None) -> Tuple[torch.Tensor, torch.Tensor]:
    """Data-free probes: 5 bases × 4 noise families × ``levels`` × ``n_probes`` images in [0, 1].

    Bases: constant grey 0.5, black, white, a random constant per probe, uniform-random pixels (several
    bases, so that no single "natural sink" of the data decides the response). Families, at level l:
    Gaussian x + l·N(0, 1); salt-and-pepper (each pixel replaced by 0 or 1 with probability l);
    low-frequency (1 − l)·x + l·u with u a bilinearly upsampled 2×2 or 4×4 uniform field (a smooth
    blob, the shape of patch and blended triggers). Returns (x, group) with group = base·4 + family,
    the index of the (base, family) setting of each probe (levels are pooled within a setting).
    """
    g = generator or torch.Generator().manual_seed(0)
    shape = tuple(int(s) for s in in_shape)
    if len(shape) != 3:
        raise ValueError(f"expected in_shape C×H×W, got {shape}")
    c, h, w = shape
    n = len(levels) * n_probes
    lv = torch.tensor([float(v) for v in levels]).repeat_interleave(n_probes).view(n, 1, 1, 1)
    xs, groups = [], []
    for b, base in enumerate(PROBE_BASES):
        for f, family in enumerate(PROBE_FAMILIES):
            if base == "uniform":
                x = torch.rand((n, c, h, w), generator=g)
            elif base == "constant":
                x = torch.rand((n, 1, 1, 1), generator=g).expand(n, c, h, w).clone()
            else:
                x = torch.full((n, c, h, w), {"grey": 0.5, "black": 0.0, "white": 1.0}[base])
            if family in ("gaussian", "salt_and_pepper"):  # the noise-response metric's own families
                x = NOISE_FAMILIES.get(family)(x, lv.flatten(), g)
            else:
                s = 2 if family == "lowfreq2" else 4
                u = F.interpolate(torch.rand((n, c, s, s), generator=g), size=(h, w), mode="bilinear", align_corners=False)
                x = (1 - lv) * x + lv * u
            xs.append(x.clamp(0, 1))
            groups.append(torch.full((n,), b * len(PROBE_FAMILIES) + f, dtype=torch.long))
    return torch.cat(xs), torch.cat(groups)
