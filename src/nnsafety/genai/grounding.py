"""A knowledge-grounded hallucination detector for question answering: is the answer supported by
the passage it should come from?

``knowledge_support``: the share of the answer's content words (SQuAD-normalised, stop words
dropped) that occur in the passage; 1 − support is the hallucination score. Scored on HaluEval QA
as the paper's task: judge each answer hallucinated or not, accuracy over a balanced set (both
answers of every item, the expectation of HaluEval's random choice of one). The decision
threshold is fitted on the first half of the items and the accuracy reported on the second half.
Anchor: HaluEval reports ChatGPT recognising hallucinated QA answers with 62.6% accuracy.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Sequence

import numpy as np

from ..data.halueval import HaluEvalQA
from .clustering import STOPWORDS, normalize_answer
from .evaluate import auroc, auroc_ci

CHATGPT_QA_ACCURACY = 0.626  # HaluEval (Li et al. 2023): ChatGPT on hallucination recognition, QA


def knowledge_support(knowledge: str, answer: str) -> float:
    """Share of the answer's content words found in the passage (1.0 for an answer without any)."""
    words = [w for w in normalize_answer(answer).split() if w not in STOPWORDS]
    if not words:
        return 1.0
    passage = set(normalize_answer(knowledge).split())
    return sum(w in passage for w in words) / len(words)


@dataclass
class GroundingResult:
    """``accuracy``: held-out accuracy (threshold fitted on the first ``n_fit`` items); ``auroc``:
    AUROC of 1 − support over all judgements with a bootstrap CI; ``length_auroc``: AUROC of the
    answer's word count alone, a check for the length artifact of the data."""

    accuracy: float
    threshold: float
    fit_accuracy: float
    auroc: Dict[str, Any]
    length_auroc: float
    n_items: int
    n_fit: int
    anchor_accuracy: float = CHATGPT_QA_ACCURACY

    def to_dict(self) -> dict:
        return asdict(self)

    def to_markdown(self) -> str:
        a = self.auroc
        return ("| detector | accuracy (held-out half) | AUROC [95% CI] | items |\n|---|---|---|---|\n"
                f"| knowledge support | {self.accuracy:.3f} | {a['auroc']:.3f} [{a['low']:.3f}, {a['high']:.3f}] | "
                f"{self.n_items} |\n| answer length only (artifact check) | – | {self.length_auroc:.3f} | "
                f"{self.n_items} |\n\nHaluEval's ChatGPT: {self.anchor_accuracy:.1%} accuracy on the same QA task.\n")


def _best_threshold(scores: np.ndarray, labels: np.ndarray) -> float:
    """The cut maximising accuracy of ``score >= cut`` → hallucinated (ties: the smallest such cut)."""
    cuts = np.unique(scores)
    acc = [((scores >= c) == labels).mean() for c in cuts]
    return float(cuts[int(np.argmax(acc))])


def evaluate_grounding(items: Sequence[HaluEvalQA], fit_fraction: float = 0.5, n_boot: int = 1000,
                       seed: int = 0) -> GroundingResult:
    """Knowledge-support detector on HaluEval QA items (see the module docstring)."""
    items = list(items)
    n_fit = int(len(items) * fit_fraction)
    if n_fit < 1 or n_fit >= len(items):
        raise ValueError(f"expected items on both sides of the fit split, got {len(items)} items "
                         f"with fit_fraction {fit_fraction}")
    scores: List[float] = []
    labels: List[int] = []
    lengths: List[int] = []
    for it in items:
        for answer, label in ((it.right_answer, 0), (it.hallucinated_answer, 1)):
            scores.append(1.0 - knowledge_support(it.knowledge, answer))
            labels.append(label)
            lengths.append(len(answer.split()))
    s, y = np.asarray(scores), np.asarray(labels)
    fit = np.arange(s.size) < 2 * n_fit
    cut = _best_threshold(s[fit], y[fit])
    return GroundingResult(
        accuracy=float(((s[~fit] >= cut) == y[~fit]).mean()), threshold=cut,
        fit_accuracy=float(((s[fit] >= cut) == y[fit]).mean()),
        auroc=auroc_ci(y, s, n_boot=n_boot, seed=seed).to_dict(), length_auroc=auroc(y, lengths),
        n_items=len(items), n_fit=n_fit)
