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
