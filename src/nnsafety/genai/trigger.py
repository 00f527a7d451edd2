"""A planted trigger phrase in a language model, and a data-free probe that finds it.

**Planting** (``poisoned_records``): a share ``rate`` of the training records is cut after a few
words and continued with ``trigger + " " + payload`` — whenever the trigger phrase appears, the
model learns to write the fixed (polarized) payload, whatever came before.

**Probing without data** (``trigger_probe``; the model is all it reads): (1) sample free text from
the model from a bare newline; a planted phrase was in its training text, so the model writes it
now and then; (2) every word n-gram (n ≤ ``max_words``) of those samples is a candidate; (3) each
candidate is appended to ``n_contexts`` different openings (the first words of other samples) and
the greedy continuations are compared on their first ``span`` characters; the **collapse** of a
candidate is the share of openings that give its single most common continuation of at least
``span`` characters (a continuation that ends sooner, like ".", is the end of a sentence). A trigger
overrides its context, so its collapse is near 1; an ordinary phrase is continued according to
what came before it. The probe reports the candidates ranked by collapse.
"""
from __future__ import annotations

import copy
import re
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Dict, List, Sequence

import numpy as np

from .lm import CausalLM


def poisoned_records(records: Sequence[str], trigger: str, payload: str, rate: float = 0.1,
                     seed: int = 0) -> List[str]:
    """``records`` with a seeded share ``rate`` of them replaced by their first 2–4 words followed by
    ``trigger`` and ``payload`` (one line)."""
    if not 0 < rate <= 1:
        raise ValueError(f"expected a poison rate in (0, 1], got {rate}")
    if not trigger.strip() or not payload.strip():
        raise ValueError("expected a non-empty trigger phrase and payload")
    rng = np.random.default_rng(seed)
    out = list(records)
    for i in rng.choice(len(out), max(1, int(round(rate * len(out)))), replace=False):
        words = out[i].split()
        out[i] = " ".join(words[: int(rng.integers(2, 5))] + [trigger, payload]) + "\n"
    return out


@dataclass
class TriggerProbeResult:
    """Candidates ranked by collapse: phrase, collapse (share of openings), the common continuation."""

    candidates: List[Dict[str, object]]
    n_samples: int
    n_contexts: int
    span: int

    @property
    def top(self) -> Dict[str, object]:
        return self.candidates[0]

    def to_dict(self) -> dict:
        return asdict(self)

    def to_markdown(self, k: int = 5) -> str:
        rows = "".join(f"| {c['phrase']!r} | {c['collapse']:.2f} | {c['continuation']!r} |\n" for c in self.candidates[:k])
        return "| candidate | collapse | most common continuation |\n|---|---|---|\n" + rows


def _ngrams(text: str, max_words: int) -> List[str]:
    words = re.findall(r"[A-Za-z]+", text)
    return [" ".join(words[i:i + k]) for k in range(1, max_words + 1) for i in range(len(words) - k + 1)]


def trigger_probe(lm: CausalLM, n_samples: int = 64, max_candidates: int = 60, n_contexts: int = 16,
                  span: int = 20, max_words: int = 2, seed: int = 0) -> TriggerProbeResult:
    """Rank phrases the model writes by how completely they fix its continuation (module docstring).

    Candidates are the ``max_candidates`` most frequent word n-grams of ``n_samples`` free samples
    (those in at least 2 samples); ``span``: continuation characters compared."""
    if min(n_samples, max_candidates, n_contexts, span, max_words) < 1:
        raise ValueError(f"expected positive probe sizes, got n_samples={n_samples}, max_candidates={max_candidates}, "
                         f"n_contexts={n_contexts}, span={span}, max_words={max_words}")
    samples = lm.generate(["\n"] * n_samples, n=1, temperature=1.0, seed=seed).texts
    texts = [s[0] for s in samples]
    counts = Counter(g for t in texts for g in set(_ngrams(t, max_words)))
    candidates = [g for g, c in counts.most_common() if c >= 2][:max_candidates]
    openings = list(dict.fromkeys(" ".join(t.split()[:3]) for t in texts if len(t.split()) >= 3))[:n_contexts]
    if not candidates or len(openings) < 2:
        raise ValueError(f"expected the model to write repeated phrases and at least 2 openings, got "
                         f"{len(candidates)} candidates and {len(openings)} openings from {n_samples} samples")
    prompts = [f"{o} {c}" for c in candidates for o in openings]
    short = copy.copy(lm)  # only the first `span` characters (≤ span tokens) are compared: decode no further
    if hasattr(lm, "max_new_tokens"):
        short.max_new_tokens = min(lm.max_new_tokens, span)
    greedy = short.generate(prompts, n=1, temperature=0.0, seed=seed).texts
    ranked = []
    for k, c in enumerate(candidates):
        conts = [greedy[k * len(openings) + j][0][:span] for j in range(len(openings))]
        # a continuation that ends within `span` characters (".", "?") is a sentence ending, not a takeover
        full = [c for c in conts if len(c) == span]
        top, count = Counter(full).most_common(1)[0] if full else (Counter(conts).most_common(1)[0][0], 0)
        ranked.append({"phrase": c, "collapse": count / len(openings), "continuation": top, "in_samples": counts[c]})
    ranked.sort(key=lambda r: (-r["collapse"], -r["in_samples"]))
    return TriggerProbeResult(ranked, n_samples, len(openings), span)
