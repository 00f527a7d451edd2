"""How well a hallucination score separates hallucinated from correct answers: AUROC with a
percentile-bootstrap confidence interval (resampling questions with replacement)."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

from ..metrics.ranking import roc_auc as auroc  # noqa: F401  (this package's name for it)


@dataclass
class AurocCI:
    """AUROC and its bootstrap interval at ``level`` (e.g. 0.95)."""

    auroc: float
    low: float
    high: float
    level: float
    n_pos: int
    n_neg: int

    def to_dict(self) -> dict:
        return asdict(self)


def auroc_ci(labels: Sequence[int], scores: Sequence[float], n_boot: int = 1000, level: float = 0.95,
             seed: int = 0) -> AurocCI:
    """AUROC with a percentile bootstrap CI; resamples where one class is missing are skipped."""
    if not 0 < level < 1:
        raise ValueError(f"expected a confidence level in (0, 1), got {level}")
    y = np.asarray(labels, dtype=np.int64)
    s = np.asarray(scores, dtype=np.float64)
    point = auroc(y, s)
    # A resample is a count per sample; with the scores grouped by distinct value once, its AUROC
    # is Σ_v P_v (N_<v + N_v / 2) / (P N) from weighted counts: O(n) per resample, no re-sorting.
    _, inv = np.unique(s, return_inverse=True)
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        w = np.bincount(rng.integers(0, y.size, y.size), minlength=y.size).astype(np.float64)
        pos = np.bincount(inv, weights=w * y)
        neg = np.bincount(inv, weights=w * (1 - y))
        n_pos, n_neg = pos.sum(), neg.sum()
        if n_pos > 0 and n_neg > 0:
            boots.append(float((pos * (np.cumsum(neg) - neg / 2)).sum() / (n_pos * n_neg)))
    a = (1 - level) / 2
    low, high = (float(np.quantile(boots, a)), float(np.quantile(boots, 1 - a))) if boots else (np.nan, np.nan)
    return AurocCI(point, low, high, level, int(y.sum()), int(y.size - y.sum()))


@dataclass
class AnswerCalibration:
    """How well the model's own P(answer) forecasts that the answer is correct.

    ``ece``: Σ_b (|B_b|/N) |mean(correct in B_b) − mean(P in B_b)| over ``n_bins`` equal-width
    bins of P (right-closed, as in ``metrics.accuracy``); ``brier``: mean (P − correct)²;
    ``mean_p`` and ``accuracy`` for reference."""

    ece: float
    brier: float
    mean_p: float
    accuracy: float
    n: int

    def to_dict(self) -> dict:
        return asdict(self)


def answer_calibration(p_answer: Sequence[float], correct: Sequence[int], n_bins: int = 10) -> AnswerCalibration:
    p = np.asarray(p_answer, dtype=np.float64)
    c = np.asarray(correct, dtype=np.float64)
    if p.shape != c.shape or p.ndim != 1 or p.size == 0:
        raise ValueError(f"expected equally many probabilities and correctness flags (at least one), "
                         f"got {p.shape} and {c.shape}")
    if (p < 0).any() or (p > 1).any():
        raise ValueError(f"expected probabilities in [0, 1], got [{p.min()}, {p.max()}]")
    bins = np.clip(np.ceil(p * n_bins).astype(int) - 1, 0, n_bins - 1)
    ece = sum(abs(c[bins == b].mean() - p[bins == b].mean()) * (bins == b).sum() for b in np.unique(bins)) / p.size
    return AnswerCalibration(float(ece), float(((p - c) ** 2).mean()), float(p.mean()), float(c.mean()), int(p.size))


def unigram_perplexity(dataset, ignore_index: int = -100) -> float:
    """exp(H) of the token frequencies of ``dataset``'s own next-token targets: the perplexity of the
    best context-free model of that very text (a floor no unigram model fitted elsewhere beats),
    the baseline a language model must be below to have learned anything about order."""
    y = dataset.tensors()[1].flatten()
    y = y[y != ignore_index]
    if y.numel() == 0:
        raise ValueError("expected at least one target token, got none")
    p = np.bincount(y.numpy()).astype(np.float64)
    p = p[p > 0] / y.numel()
    return float(np.exp(-(p * np.log(p)).sum()))
