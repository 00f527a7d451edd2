"""Polarized output probe: does the model speak of one group or topic more negatively than another?

Templated prompts differ only in a ``{term}`` (a group, a profession, a topic); every prompt gets
``n`` sampled continuations, each scored by a sentiment function (default: the AFINN-165 lexicon of
Nielsen 2011, word valences −5..+5 summed over the continuation, read from the PyPI package
``afinn``). Per term: the mean sentiment over templates × samples with a percentile-bootstrap CI
(continuations resampled within the term). The **disparity** is max − min of the term means; its
CI comes from the same stratified bootstrap, and a permutation test (term labels shuffled across
continuations) gives the chance of a disparity at least that large when the term makes no
difference — max − min is positive even then, so the p-value, not the disparity alone, says
whether the model treats the terms differently.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

from ..data.afinn import afinn_lexicon
from .sampling import Generator, _as_generations, check_n, check_prompts

Sentiment = Callable[[str], float]


@lru_cache(maxsize=1)
def _afinn_pattern() -> "re.Pattern[str]":
    # longest entries first, so "can't stand" wins over a shorter entry inside it
    words = sorted(afinn_lexicon(), key=len, reverse=True)
    return re.compile(r"\b(?:" + "|".join(re.escape(w) for w in words) + r")\b")


def afinn_sentiment(text: str) -> float:
    """Sum of the AFINN-165 valences of the lexicon entries found in ``text`` (lower-cased, whole
    words, leftmost-longest match); 0 for text without sentiment words."""
    lexicon = afinn_lexicon()
    return float(sum(lexicon[w] for w in _afinn_pattern().findall(text.lower())))


@dataclass
class PolarizationResult:
    """Per term: mean sentiment and its bootstrap CI; the disparity (max − min of the means, in the
    sentiment's units) with its CI, the permutation p-value, and which terms are extreme."""

    terms: List[str]
    means: List[float]
    lows: List[float]
    highs: List[float]
    disparity: float
    disparity_low: float
    disparity_high: float
    p_value: float
    most_negative: str
    most_positive: str
    n_per_term: int
    templates: List[str]
    examples: Dict[str, List[str]]

    def to_dict(self) -> dict:
        return asdict(self)

    def to_markdown(self) -> str:
        rows = "".join(f"| {t} | {m:+.3f} | [{lo:+.3f}, {hi:+.3f}] |\n"
                       for t, m, lo, hi in zip(self.terms, self.means, self.lows, self.highs))
        return (f"| term | mean sentiment | 95% CI |\n|---|---|---|\n{rows}\ndisparity {self.disparity:.3f} "
                f"[{self.disparity_low:.3f}, {self.disparity_high:.3f}] ({self.most_negative} lowest, "
                f"{self.most_positive} highest), permutation p = {self.p_value:.4f}, {self.n_per_term} "
                f"continuations per term\n")


def _check_templates(templates: Sequence[str], terms: Sequence[str]) -> None:
    if isinstance(templates, str) or not templates or not all(isinstance(t, str) and "{term}" in t for t in templates):
        raise ValueError(f"expected a list of prompt templates each containing {{term}}, got {templates!r:.80}")
    if isinstance(terms, str) or len(terms) < 2 or len(set(terms)) != len(terms):
        raise ValueError(f"expected at least 2 distinct terms to compare, got {terms!r:.80}")


def polarization_probe(generate: Generator, templates: Sequence[str], terms: Sequence[str], n: int = 10,
                       temperature: float = 1.0, sentiment: Optional[Sentiment] = None, n_boot: int = 1000,
                       n_perm: int = 1000, level: float = 0.95, seed: int = 0) -> PolarizationResult:
    """Sentiment of the continuations of every template × term prompt (see the module docstring).

    ``generate``: a ``CausalLM`` or any ``generate(prompts, n, temperature)`` callable;
    ``sentiment``: text -> float (default ``afinn_sentiment``)."""
    _check_templates(templates, terms)
    n = check_n(n)
    if not temperature > 0:
        raise ValueError(f"expected a sampling temperature > 0, got {temperature!r}")
    score = sentiment or afinn_sentiment
    templates, terms = list(templates), list(terms)
    prompts = check_prompts([t.format(term=term) for term in terms for t in templates])
    texts = _as_generations(generate(prompts, n, temperature), len(prompts), n).texts
    per = len(templates) * n
    scores = np.array([[score(a) for p in range(k * len(templates), (k + 1) * len(templates)) for a in texts[p]]
                       for k in range(len(terms))], dtype=np.float64)  # terms × (templates·n)
    means = scores.mean(axis=1)
    rng = np.random.default_rng(seed)
    boot = np.stack([np.take_along_axis(scores, rng.integers(0, per, scores.shape), axis=1).mean(axis=1)
                     for _ in range(n_boot)])  # n_boot × terms, resampled within each term
    a = (1 - level) / 2
    gaps = boot.max(axis=1) - boot.min(axis=1)
    disparity = float(means.max() - means.min())
    flat = scores.ravel()
    perm = np.array([np.ptp(rng.permutation(flat).reshape(scores.shape).mean(axis=1)) for _ in range(n_perm)])
    return PolarizationResult(
        terms=terms, means=means.tolist(), lows=np.quantile(boot, a, axis=0).tolist(),
        highs=np.quantile(boot, 1 - a, axis=0).tolist(), disparity=disparity,
        disparity_low=float(np.quantile(gaps, a)), disparity_high=float(np.quantile(gaps, 1 - a)),
        p_value=float((1 + (perm >= disparity - 1e-12).sum()) / (1 + n_perm)),
        most_negative=terms[int(means.argmin())], most_positive=terms[int(means.argmax())], n_per_term=per,
        templates=templates,
        examples={term: [texts[k * len(templates)][j] for j in range(min(2, n))] for k, term in enumerate(terms)})
