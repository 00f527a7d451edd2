"""Sample answers from any generator and turn them into hallucination scores.

A generator is any callable ``generate(prompts, n, temperature)`` returning, for each prompt, its
n sampled answers: either a list of n strings per prompt, or a ``Generations`` (strings plus
sequence log-probabilities and token counts, which the probability-based scores need). The
convention ``temperature=0`` means greedy decoding (one answer, the argmax path).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, List, Optional, Sequence

from .clustering import Equivalence
from .scores import SampleSet, cluster_entropy


@dataclass
class Generations:
    """``texts[i][j]``: the j-th answer to prompt i; ``logprobs[i][j]``: its log-probability (nats,
    summed over its tokens); ``lengths[i][j]``: its number of tokens."""

    texts: List[List[str]]
    logprobs: Optional[List[List[float]]] = None
    lengths: Optional[List[List[int]]] = None


Generator = Callable[[List[str], int, float], "Generations | List[List[str]]"]


def check_prompts(prompts: Sequence[str]) -> List[str]:
    if isinstance(prompts, str):
        raise ValueError("expected a list of prompt strings, got one string (wrap it in a list)")
    prompts = list(prompts)
    if not prompts:
        raise ValueError("expected at least one prompt, got an empty list")
    bad = [type(p).__name__ for p in prompts if not isinstance(p, str)]
    if bad:
        raise ValueError(f"expected every prompt to be a string, got {bad[0]}")
    return prompts


def check_n(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"expected n >= 1 samples per prompt, got {n!r}")
    return n


def _as_generations(out, n_prompts: int, n: int) -> Generations:
    gen = out if isinstance(out, Generations) else Generations(texts=out)
    if not isinstance(gen.texts, (list, tuple)) or len(gen.texts) != n_prompts:
        got = len(gen.texts) if isinstance(gen.texts, (list, tuple)) else type(gen.texts).__name__
        raise ValueError(f"expected the generator to return {n_prompts} answer lists (one per prompt), got {got}")
    for i, answers in enumerate(gen.texts):
        if len(answers) != n or not all(isinstance(a, str) for a in answers):
            raise ValueError(f"expected {n} answer strings for prompt {i}, got {answers!r:.80}")
    return gen


def sample_sets(generate: Generator, prompts: Sequence[str], n: int = 10, temperature: float = 1.0,
                greedy: bool = True, equivalent: Optional[Equivalence | str] = None) -> List[SampleSet]:
    """One ``SampleSet`` per prompt: n answers at ``temperature`` plus (``greedy``) the greedy one."""
    prompts = check_prompts(prompts)
    n = check_n(n)
    if not temperature > 0:
        raise ValueError(f"expected a sampling temperature > 0, got {temperature!r}")
    gen = _as_generations(generate(prompts, n, temperature), len(prompts), n)
    top = _as_generations(generate(prompts, 1, 0.0), len(prompts), 1) if greedy else None
    sets = []
    for i, p in enumerate(prompts):
        sets.append(SampleSet(
            samples=list(gen.texts[i]), prompt=p, equivalent=equivalent,
            logprobs=list(gen.logprobs[i]) if gen.logprobs is not None else None,
            lengths=list(gen.lengths[i]) if gen.lengths is not None else None,
            greedy=top.texts[i][0] if top is not None else None,
            greedy_logprob=top.logprobs[i][0] if top is not None and top.logprobs is not None else None))
    return sets


@dataclass
class SemanticEntropyResult:
    """Per prompt: discrete semantic entropy (nats), the weighted form when log-probs were given
    (else None), the number of meaning clusters, and the cluster id of each sample."""

    prompts: List[str]
    entropy: List[float]
    entropy_weighted: Optional[List[float]]
    n_clusters: List[int]
    clusters: List[List[int]] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"prompts": self.prompts, "entropy": self.entropy, "entropy_weighted": self.entropy_weighted,
                "n_clusters": self.n_clusters, "clusters": self.clusters}


def semantic_entropy(generate: Generator, prompts: Sequence[str], n: int = 10, temperature: float = 1.0,
                     equivalent: Optional[Equivalence | str] = None) -> SemanticEntropyResult:
    """Semantic entropy of each prompt's answers (Farquhar et al., Nature 2024).

    Samples ``n`` answers per prompt from ``generate(prompts, n, temperature)``, clusters them by
    meaning (``equivalent``: a callable ``(a, b) -> bool``, ``"normalized_match"`` (default) or
    ``"same_content"``) and returns the entropy over clusters, in nats: 0 when every answer means
    the same, log n when all differ.
    """
    sets = sample_sets(generate, prompts, n, temperature, greedy=False, equivalent=equivalent)
    weighted = [cluster_entropy(s.clusters(), s.logprobs) for s in sets] if sets[0].logprobs is not None else None
    return SemanticEntropyResult(
        prompts=[s.prompt for s in sets], entropy=[cluster_entropy(s.clusters()) for s in sets],
        entropy_weighted=weighted, n_clusters=[len(set(s.clusters())) for s in sets],
        clusters=[s.clusters() for s in sets])
