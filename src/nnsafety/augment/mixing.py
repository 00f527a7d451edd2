"""Mixup, CutMix and the sampling they share (λ, partner permutation, CutMix box).

Mixup (Zhang et al., ICLR 2018): x̃ = λ·x + (1−λ)·x[π], ỹ = λ·y + (1−λ)·y[π], λ ~ Beta(α, α), one λ
per batch and π a random permutation of the batch (the reference implementation's choice).
CutMix (Yun et al., ICCV 2019): paste the box B of x[π] into x; the label weight of x is the
fraction of pixels that stayed, λ = 1 − |B|/(H·W), after clipping the box to the image.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Tuple

import torch
import torch.nn.functional as F

from .. import _random


@dataclass
class MixDraw:
    """One mixing draw: weight ``lam`` of the original sample, partner permutation ``perm``."""

    lam: float
    perm: torch.Tensor


def sample_mix(n: int, alpha: float, generator: Optional[torch.Generator], device="cpu") -> MixDraw:
    """λ ~ Beta(α, α) (λ = 1 when α = 0) and a uniform permutation of the n samples."""
    if alpha < 0:
        raise ValueError(f"expected alpha >= 0, got {alpha}")
    lam = _random.beta(alpha, alpha, generator) if alpha > 0 else 1.0
    return MixDraw(lam, _random.randperm(n, generator, device))


def mix(x: torch.Tensor, draw: MixDraw) -> torch.Tensor:
    """λ·x + (1−λ)·x[π] (any shape with the batch first; inputs or hidden features)."""
    return draw.lam * x + (1.0 - draw.lam) * x[draw.perm]


def soft_targets(y: torch.Tensor, num_classes: int, smoothing: float = 0.0) -> torch.Tensor:
    """One-hot (optionally label-smoothed: (1−s)·onehot + s/K) float targets of shape N×K."""
    t = F.one_hot(y, num_classes).float()
    return t * (1.0 - smoothing) + smoothing / num_classes if smoothing else t


def mix_targets(y: torch.Tensor, draw: MixDraw, num_classes: int, smoothing: float = 0.0) -> torch.Tensor:
    """λ·onehot(y) + (1−λ)·onehot(y[π]); rows sum to 1."""
    t = soft_targets(y, num_classes, smoothing)
    return draw.lam * t + (1.0 - draw.lam) * t[draw.perm]


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of −Σ_k t_k log softmax(z)_k (equals the λ-weighted CEs for mixed t)."""
    return -(targets * F.log_softmax(logits, dim=1)).sum(dim=1).mean()


def sample_box(height: int, width: int, lam: float, generator: Optional[torch.Generator]) -> Tuple[int, int, int, int]:
    """CutMix box (y0, y1, x0, x1), half-open, clipped to the image.

    Yun et al.: side ratio √(1−λ), centre uniform over the pixels, so the box may be cut by the
    border; the caller recomputes λ from the clipped area.
    """
    ratio = math.sqrt(1.0 - lam)
    cut_h, cut_w = int(height * ratio), int(width * ratio)
    cy, cx = (int(v) for v in _random.randint(0, 1 << 30, (2,), generator))
    cy, cx = cy % height, cx % width
    y0, y1 = max(cy - cut_h // 2, 0), min(cy + cut_h // 2, height)
    x0, x1 = max(cx - cut_w // 2, 0), min(cx + cut_w // 2, width)
    return y0, y1, x0, x1


def cutmix(x: torch.Tensor, draw: MixDraw, box: Tuple[int, int, int, int]) -> Tuple[torch.Tensor, MixDraw]:
    """Paste ``box`` of x[π] into x (N×C×H×W); returns the images and the draw with λ = kept area."""
    if x.dim() != 4:
        raise ValueError(f"expected images of shape N×C×H×W for cutmix, got shape {tuple(x.shape)}")
    y0, y1, x0, x1 = box
    out = x.clone()
    out[:, :, y0:y1, x0:x1] = x[draw.perm][:, :, y0:y1, x0:x1]
    lam = 1.0 - (y1 - y0) * (x1 - x0) / (x.shape[2] * x.shape[3])
    return out, MixDraw(lam, draw.perm)
