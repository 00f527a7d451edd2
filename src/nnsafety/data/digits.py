"""scikit-learn's bundled 8×8 handwritten digits: the embedded default dataset (no download)."""
from __future__ import annotations

import numpy as np
import torch

from .base import ArrayDataset, register_dataset

# A fixed stratified 1347/450 split (25% test). The permutation comes from a private NumPy
# generator with a constant seed so the split never changes with library RNG defaults.
_SPLIT_SEED = 20190101
_TEST_FRACTION = 0.25


def _split_indices(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.Generator(np.random.PCG64(_SPLIT_SEED))
    train, test = [], []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        idx = idx[rng.permutation(idx.size)]
        n_test = int(round(idx.size * _TEST_FRACTION))
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


@register_dataset("digits")
def digits(root: str | None = None, split: str = "train") -> ArrayDataset:
    """1,797 grey 8×8 digits (0–16 ink levels scaled to [0, 1]); 10 classes; shape 1×8×8."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.asarray(bunch.images, dtype=np.float32) / 16.0
    labels = np.asarray(bunch.target, dtype=np.int64)
    train_idx, test_idx = _split_indices(labels)
    idx = train_idx if split == "train" else test_idx
    x = torch.from_numpy(images[idx]).unsqueeze(1).contiguous()
    y = torch.from_numpy(labels[idx])
    return ArrayDataset(x, y, [str(c) for c in range(10)], name="digits")
