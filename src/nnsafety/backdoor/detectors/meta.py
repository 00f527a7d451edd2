"""Meta-classifier mode shared by the feature-based detectors (noise_response, weights).

A detector with a ``features(model, ctx) -> 1-D tensor`` method can be turned into a supervised
detector: fit a scikit-learn random forest on the features of a reference zoo (clean = 0,
implanted backdoor = 1) and score new models by the forest's probability (threshold 0.5). The
forest lives in memory only (no pickle on disk); features are cheap to recompute or cache as JSON.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np


class MetaClassifier:
    """Random forest on detector features; ``fit`` returns self (scikit-learn habit)."""

    def __init__(self, n_estimators: int = 300, seed: int = 0) -> None:
        self.n_estimators, self.seed = int(n_estimators), int(seed)
        self.forest = None

    def fit(self, features: Sequence[Sequence[float]], labels: Sequence[int]) -> "MetaClassifier":
        from sklearn.ensemble import RandomForestClassifier

        X, y = np.asarray(features, dtype=np.float64), np.asarray(labels, dtype=np.int64)
        if X.ndim != 2 or X.shape[0] != y.shape[0] or len(set(y.tolist())) != 2:
            raise ValueError(f"expected features M×D and labels of both classes for M models, got "
                             f"{X.shape} and classes {sorted(set(y.tolist()))}")
        self.forest = RandomForestClassifier(self.n_estimators, random_state=self.seed, min_samples_leaf=1)
        self.forest.fit(np.nan_to_num(X), y)
        return self

    def predict_proba(self, features: Sequence[Sequence[float]]) -> np.ndarray:
        if self.forest is None:
            raise ValueError("expected a fitted meta-classifier; call fit(features, labels) first")
        return self.forest.predict_proba(np.nan_to_num(np.asarray(features, dtype=np.float64)))[:, 1]


def meta_score(meta: Optional[MetaClassifier], feats) -> Optional[float]:
    return None if meta is None else float(meta.predict_proba([list(map(float, feats))])[0])
