"""Hallucination scores: registered pure functions of sampled answers and/or their log-probabilities.

Every score maps one ``SampleSet`` (the answers sampled for one prompt) to a float. ``sign`` says
which way it points: the *hallucination score* used for AUROC is ``sign * value``, so a higher
hallucination score always means "more likely made up". Entropies are in nats.

- ``predictive_entropy``: Monte-Carlo estimate −(1/n) Σ_i log p(s_i) over n sampled answers
  (Kadavath et al. 2022; Kuhn et al. 2023); needs sequence log-probs.
- ``length_normalized_entropy``: −(1/n) Σ_i log p(s_i) / len(s_i) (Malinin & Gales 2021), tokens.
- ``semantic_entropy``: discrete semantic entropy (Farquhar et al., Nature 2024): cluster the n
  answers by meaning, H = −Σ_c (|c|/n) log(|c|/n); 0 when all agree, log n when all differ.
- ``semantic_entropy_weighted``: the paper's probability-weighted form: p(c) ∝ Σ_{s∈c} p(s)
  (normalised over the sampled answers), H = −Σ_c p(c) log p(c).
- ``self_consistency``: SelfCheckGPT-style agreement (Manakul et al. 2023): the fraction of the n
  samples equivalent to the greedy answer (sign −1: low agreement → hallucination).
- ``p_answer``: the model's own probability of its greedy answer, exp(log p(greedy)) (sign −1).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence

from .._registry import Registry
from .clustering import Equivalence, cluster_ids, get_equivalence


@dataclass
class SampleSet:
    """The answers sampled for one prompt.

    ``samples``: n sampled answers (strings); ``logprobs``: each sample's sequence log-probability
    (nats, sum over its tokens) or None when the generator gives none; ``lengths``: tokens per
    sample (for length normalisation); ``greedy``/``greedy_logprob``: the temperature-0 answer and
    its log-probability; ``equivalent``: the meaning equivalence used to cluster (None: normalised
    exact match, see ``clustering``).
    """

    samples: List[str]
    logprobs: Optional[List[float]] = None
    lengths: Optional[List[int]] = None
    greedy: Optional[str] = None
    greedy_logprob: Optional[float] = None
    prompt: Optional[str] = None
    equivalent: Optional[Equivalence | str] = None
    _clusters: Optional[List[int]] = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.samples, (list, tuple)) or len(self.samples) < 1:
            raise ValueError(f"expected at least one sampled answer, got {self.samples!r}")
        self.samples = list(self.samples)
        n = len(self.samples)
        for name in ("logprobs", "lengths"):
            v = getattr(self, name)
            if v is not None and len(v) != n:
                raise ValueError(f"expected {n} {name} (one per sample), got {len(v)}")
        if self.lengths is not None and any(int(k) < 1 for k in self.lengths):
            raise ValueError(f"expected sample lengths >= 1 token, got {list(self.lengths)}")
        get_equivalence(self.equivalent)  # fail now on a bad name, not inside a score

    @property
    def n(self) -> int:
        return len(self.samples)

    def clusters(self) -> List[int]:
        if self._clusters is None:
            self._clusters = cluster_ids(self.samples, self.equivalent)
        return self._clusters


@dataclass(frozen=True)
class Score:
    """One registered score: ``fn(SampleSet) -> float``, what it needs, and its direction."""

    name: str
    fn: Callable[[SampleSet], float]
    needs: tuple  # subset of ("samples", "logprobs", "greedy")
    sign: int  # hallucination score = sign * value

    def __call__(self, s: SampleSet) -> float:
        missing = [k for k in self.needs if k != "samples" and _field(s, k) is None]
        if missing:
            raise ValueError(f"score {self.name!r} needs {' and '.join(missing)} of each sample set, got none")
        return float(self.fn(s))


def _field(s: SampleSet, need: str):
    return {"logprobs": s.logprobs, "greedy": s.greedy, "greedy_logprob": s.greedy_logprob}[need]


SCORES: Registry[Score] = Registry("hallucination score")


def register_score(name: str, needs: Sequence[str] = ("samples",), sign: int = 1):
    def decorator(fn: Callable[[SampleSet], float]) -> Callable[[SampleSet], float]:
        SCORES.register(name)(Score(name, fn, tuple(needs), sign))
        return fn

    return decorator


def list_scores() -> List[str]:
    return SCORES.names()


def get_score(name: str) -> Score:
    return SCORES.get(name)


# ----------------------------------------------------------------------------- pure formulas

def entropy_of_counts(counts: Sequence[float]) -> float:
    """−Σ p log p of a histogram (nats); zero counts contribute nothing."""
    total = float(sum(counts))
    if total <= 0:
        raise ValueError(f"expected positive total count, got {list(counts)}")
    return -sum((c / total) * math.log(c / total) for c in counts if c > 0)


def cluster_entropy(ids: Sequence[int], logprobs: Optional[Sequence[float]] = None) -> float:
    """Entropy over clusters: discrete (p(c) = share of samples) or, with ``logprobs``, weighted
    (p(c) = Σ_{s∈c} p(s) / Σ_s p(s), computed in log space so tiny probabilities do not vanish)."""
    if logprobs is None:
        counts: Dict[int, float] = {}
        for k in ids:
            counts[k] = counts.get(k, 0) + 1
        return entropy_of_counts(list(counts.values()))
    top = max(logprobs)
    weights: Dict[int, float] = {}
    for k, lp in zip(ids, logprobs):
        weights[k] = weights.get(k, 0.0) + math.exp(lp - top)
    return entropy_of_counts(list(weights.values()))


# ----------------------------------------------------------------------------- registered scores

@register_score("predictive_entropy", needs=("samples", "logprobs"))
def predictive_entropy(s: SampleSet) -> float:
    return -sum(s.logprobs) / s.n


@register_score("length_normalized_entropy", needs=("samples", "logprobs"))
def length_normalized_entropy(s: SampleSet) -> float:
    lengths = s.lengths if s.lengths is not None else [max(1, len(a)) for a in s.samples]
    return -sum(lp / k for lp, k in zip(s.logprobs, lengths)) / s.n


@register_score("semantic_entropy")
def semantic_entropy_discrete(s: SampleSet) -> float:
    return cluster_entropy(s.clusters())


@register_score("semantic_entropy_weighted", needs=("samples", "logprobs"))
def semantic_entropy_weighted(s: SampleSet) -> float:
    return cluster_entropy(s.clusters(), s.logprobs)


@register_score("self_consistency", needs=("samples", "greedy"), sign=-1)
def self_consistency(s: SampleSet) -> float:
    eq = get_equivalence(s.equivalent)
    return sum(eq(s.greedy, a) for a in s.samples) / s.n


@register_score("p_answer", needs=("greedy_logprob",), sign=-1)
def p_answer(s: SampleSet) -> float:
    return math.exp(s.greedy_logprob)


def score_sample_sets(sets: Sequence[SampleSet], names: Optional[Sequence[str]] = None) -> Dict[str, List[float]]:
    """Raw value of each score (all applicable registered ones by default) on every sample set."""
    if names is None:
        names = [n for n in SCORES.names() if all(k == "samples" or _field(sets[0], k) is not None
                                                   for k in SCORES.get(n).needs)] if sets else []
    return {name: [SCORES.get(name)(s) for s in sets] for name in names}
