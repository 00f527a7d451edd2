"""Ranking metrics shared by every evaluation that scores a detector (backdoor scans, zoo tables,
hallucination scores): one exact AUROC."""
from __future__ import annotations

from typing import Sequence

import numpy as np


def roc_auc(labels: Sequence[int], scores: Sequence[float]) -> float:
    """P(score of a random positive > score of a random negative), ties count ½ (Mann–Whitney U / n₁n₀),
    from ranks in O(n log n). ``labels``: 1 = positive, 0 = negative. NaN when one class is absent.
    """
    y = np.asarray(labels, dtype=np.int64)
    s = np.asarray(scores, dtype=np.float64)
    if y.shape != s.shape or y.ndim != 1:
        raise ValueError(f"expected labels and scores of the same length, got {y.shape} and {s.shape}")
    n1 = int(y.sum())
    n0 = y.size - n1
    if n1 == 0 or n0 == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(s.size, dtype=np.float64)
    ranks[order] = np.arange(1, s.size + 1)
    _, inv, counts = np.unique(s, return_inverse=True, return_counts=True)
    ranks = (np.bincount(inv, weights=ranks) / counts)[inv]  # ties share the mean of their ranks
    return float((ranks[y == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))
