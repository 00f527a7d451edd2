"""scikit-learn's bundled 8×8 handwritten digits: the embedded default dataset (no download)."""
from __future__ import annotations

import numpy as np
import torch

from .base import ArrayDataset, register_dataset, stratified_split

# A fixed stratified 1347/450 split (25% test), see stratified_split.
_SPLIT_SEED = 20190101
_TEST_FRACTION = 0.25


@register_dataset("digits")
def digits(root: str | None = None, split: str = "train") -> ArrayDataset:
    """1,797 grey 8×8 digits (0–16 ink levels scaled to [0, 1]); 10 classes; shape 1×8×8."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.asarray(bunch.images, dtype=np.float32) / 16.0
    labels = np.asarray(bunch.target, dtype=np.int64)
    train_idx, test_idx = stratified_split(labels, _TEST_FRACTION, _SPLIT_SEED)
    idx = train_idx if split == "train" else test_idx
    x = torch.from_numpy(images[idx]).unsqueeze(1).contiguous()
    y = torch.from_numpy(labels[idx])
    return ArrayDataset(x, y, [str(c) for c in range(10)], name="digits")


_DIGITS32_SEED = 3232


@register_dataset("digits32")
def digits32(root: str | None = None, split: str = "train") -> ArrayDataset:
    """The 1,797 digits as 3×32×32 colour images: a small offline stand-in for CIFAR-sized inputs.

    Each 8×8 digit is upsampled bilinearly to 32×32 (its ink α ∈ [0, 1]) and composited over a
    per-image background: a random dark colour plus a low-frequency texture (a 4×4 random grid
    upsampled bicubically, amplitude 0.25), with a random bright ink colour:
    x = (1 − α)·background + α·ink. Same split as ``digits``; seeded, so every call gives the same
    images; 10 classes; shape 3×32×32; values in [0, 1].
    """
    base = digits(root, split)
    n = base.images.shape[0]
    g = torch.Generator().manual_seed(_DIGITS32_SEED + (0 if split == "train" else 1))
    alpha = torch.nn.functional.interpolate(base.images.float(), size=(32, 32), mode="bilinear",
                                            align_corners=False).clamp(0, 1)
    texture = torch.nn.functional.interpolate(torch.rand(n, 3, 4, 4, generator=g), size=(32, 32), mode="bicubic",
                                              align_corners=False)
    background = (0.35 * torch.rand(n, 3, 1, 1, generator=g) + 0.25 * (texture - 0.5)).clamp(0, 1)
    ink = 0.6 + 0.4 * torch.rand(n, 3, 1, 1, generator=g)
    x = ((1 - alpha) * background + alpha * ink).clamp(0, 1).contiguous()
    return ArrayDataset(x, base.labels.clone(), list(base.classes), name="digits32")
