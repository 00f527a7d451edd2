"""Noise response of a generative model: how its answers move as the prompt is perturbed.

At each strength the prompts get random character typos (each letter replaced, with probability
``level``, by another letter of the same case; digits, spaces and punctuation — the question
template — stay) and the model answers again. Reported per level: the **flip rate** (share of
prompts whose greedy answer changed from the clean prompt's, after SQuAD normalisation), the mean
semantic entropy of n sampled answers, and the **collapse** (share of prompts whose greedy answer
is the level's single most common answer: a model that answers everything the same way, e.g.
because a trigger took over, shows collapse near 1). Data-free: prompts only, no labels.
"""
from __future__ import annotations

import string
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Dict, List, Sequence

import numpy as np

from .clustering import normalize_answer
from .sampling import Generator, check_prompts, sample_sets
from .scores import cluster_entropy

_LOWER, _UPPER = string.ascii_lowercase, string.ascii_uppercase


def char_typos(text: str, level: float, rng: np.random.Generator) -> str:
    """Replace each ASCII letter with probability ``level`` by a different letter of the same case."""
    if not 0.0 <= level <= 1.0:
        raise ValueError(f"expected a typo level in [0, 1], got {level}")
    out = []
    for c in text:
        pool = _LOWER if c in _LOWER else _UPPER if c in _UPPER else None
        if pool is not None and rng.random() < level:
            c = pool[(pool.index(c) + int(rng.integers(1, 26))) % 26]  # never the same letter
        out.append(c)
    return "".join(out)


@dataclass
class NoiseResponse:
    """One row per typo level: flip rate, mean semantic entropy (nats) and collapse."""

    levels: List[float]
    flip_rate: List[float]
    semantic_entropy: List[float]
    collapse: List[float]
    n_prompts: int
    n_samples: int

    def to_dict(self) -> Dict:
        return asdict(self)

    def to_markdown(self) -> str:
        rows = "".join(f"| {lv:.2f} | {f:.3f} | {h:.3f} | {c:.3f} |\n"
                       for lv, f, h, c in zip(self.levels, self.flip_rate, self.semantic_entropy, self.collapse))
        return "| typo level | answer flip rate | semantic entropy (nats) | collapse |\n|---|---|---|---|\n" + rows


def answer_noise_response(generate: Generator, prompts: Sequence[str], levels: Sequence[float] = (0.0, 0.05, 0.1, 0.2),
                          n: int = 10, temperature: float = 1.0, seed: int = 0) -> NoiseResponse:
    """Perturb ``prompts`` at each level (seeded), answer, and measure flips, entropy and collapse."""
    prompts = check_prompts(prompts)
    levels = [float(v) for v in levels]
    if not levels or levels[0] != 0.0:
        raise ValueError(f"expected typo levels starting at 0 (the clean reference), got {levels}")
    clean: List[str] = []
    flips, entropies, collapse = [], [], []
    for k, level in enumerate(levels):
        rng = np.random.default_rng([seed, k])
        noisy = [char_typos(p, level, rng) for p in prompts]
        sets = sample_sets(generate, noisy, n=n, temperature=temperature, greedy=True)
        answers = [normalize_answer(s.greedy) for s in sets]
        if k == 0:
            clean = answers
        flips.append(float(np.mean([a != b for a, b in zip(answers, clean)])))
        entropies.append(float(np.mean([cluster_entropy(s.clusters()) for s in sets])))
        collapse.append(Counter(answers).most_common(1)[0][1] / len(answers))
    return NoiseResponse(levels, flips, entropies, collapse, len(prompts), n)
