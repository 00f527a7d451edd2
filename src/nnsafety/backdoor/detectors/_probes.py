"""Data-free stand-ins for clean samples: class prototypes synthesized from the weights alone."""
from __future__ import annotations

from typing import Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn


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
