"""ONION (Qi et al., EMNLP 2021): remove the words whose deletion makes a text much more fluent.

A backdoor trigger ("cf", an inserted sentence) is an outlier word of its text: deleting it lowers
the text's perplexity under a language model far more than deleting a normal word. For a text of
words w_1..w_n with perplexity p_0, ONION scores word i by f_i = p_0 − p_i (p_i: the perplexity
without w_i) and removes every word with f_i > ``threshold`` before the text reaches the model.

The paper's language model is GPT-2; here it is a word bigram model trained locally on the training
texts (nothing downloaded): p(w | v) = λ·c(v, w)/c(v) + (1 − λ)·p₁(w) (Jelinek–Mercer
interpolation, λ = 0.7, only where v was seen), p₁ the add-one unigram over the training words plus
one unseen-word slot, with ``<s>``/``</s>`` around each text. Perplexity = exp(−mean log p) over the
n + 1 predicted tokens. Deleting w_i only changes the bigrams around it, so every p_i of a text
comes from one pass: LL_i = LL − log p(w_i|w_{i−1}) − log p(w_{i+1}|w_i) + log p(w_{i+1}|w_{i−1}).
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from torch import nn

from ..data.vocab import tokenize

BOS, EOS = "<s>", "</s>"


class BigramLM:
    """The interpolated word bigram model of the module doc, fitted on ``texts`` (tokenized like the
    vocabulary: lower-cased words and punctuation)."""

    def __init__(self, texts: Sequence[str], lam: float = 0.7) -> None:
        if not 0 <= lam < 1:
            raise ValueError(f"expected lam in [0, 1), got {lam}")
        if isinstance(texts, str) or not len(texts):
            raise ValueError("expected a non-empty list of training texts for the bigram language model")
        self.lam = float(lam)
        self.uni: Counter = Counter()
        self.bi: Counter = Counter()
        self.ctx: Counter = Counter()
        for t in texts:
            w = [BOS] + tokenize(t) + [EOS]
            self.uni.update(w[1:])
            self.ctx.update(w[:-1])
            self.bi.update(zip(w[:-1], w[1:]))
        self.total = sum(self.uni.values())
        self.types = len(self.uni) + 1  # + one slot for every unseen word

    def logp(self, prev: str, word: str) -> float:
        """log p(word | prev) (natural log)."""
        p1 = (self.uni.get(word, 0) + 1) / (self.total + self.types)
        c = self.ctx.get(prev, 0)
        if not c:
            return math.log(p1)
        return math.log(self.lam * self.bi.get((prev, word), 0) / c + (1 - self.lam) * p1)

    def perplexity(self, words: Sequence[str]) -> float:
        w = [BOS] + list(words) + [EOS]
        return math.exp(-sum(self.logp(a, b) for a, b in zip(w[:-1], w[1:])) / (len(w) - 1))

    def suspicion(self, words: Sequence[str]) -> np.ndarray:
        """f_i = p_0 − p_i for every word of ``words`` (one pass, module doc)."""
        w = [BOS] + list(words) + [EOS]
        n = len(words)
        if n == 0:
            return np.zeros(0)
        lp = np.array([self.logp(a, b) for a, b in zip(w[:-1], w[1:])])  # lp[j] = log p(w_{j+1} | w_j)
        ll = lp.sum()
        skip = np.array([self.logp(w[i - 1], w[i + 1]) for i in range(1, n + 1)])  # w_{i+1} after w_{i-1}
        ll_i = ll - lp[:-1] - lp[1:] + skip
        p0 = math.exp(-ll / (n + 1))
        return p0 - np.exp(-ll_i / n)


def onion_filter(texts: Sequence[str], lm: BigramLM, threshold: float = 0.0) -> List[str]:
    """Each text with the words of suspicion f_i > ``threshold`` removed (words joined by spaces)."""
    out = []
    for t in texts:
        words = tokenize(t)
        f = lm.suspicion(words)
        out.append(" ".join(w for w, s in zip(words, f) if s <= threshold))
    return out


@dataclass
class OnionResult:
    """Per threshold: clean accuracy and ASR with and without the filter (fractions)."""

    thresholds: List[float]
    clean_accuracy: float
    asr: float
    clean_accuracy_filtered: List[float]
    asr_filtered: List[float]
    n_clean: int
    n_triggered: int

    def to_dict(self) -> Dict[str, object]:
        return dict(self.__dict__)

    def rows(self) -> List[List[str]]:
        return [[f"{t:g}", f"{100 * c:.1f}%", f"{100 * (self.clean_accuracy - c):+.1f}", f"{100 * a:.1f}%"]
                for t, c, a in zip(self.thresholds, self.clean_accuracy_filtered, self.asr_filtered)]


def onion_evaluate(model: nn.Module, vocab, texts: Sequence[str], labels: torch.Tensor, trigger, target: int,
                   lm: BigramLM, thresholds: Sequence[float] = (0.0, 10.0, 50.0), seed: int = 0,
                   batch_size: int = 512) -> OnionResult:
    """Clean accuracy and all-to-one ASR of ``model`` (inputs encoded by ``vocab``) before and after
    ONION at each threshold; ASR on the texts whose label is not ``target``, triggered by
    ``trigger`` (a ``TextTrigger``; ``seed`` draws its positions)."""
    from .._model import predict_logits

    labels = torch.as_tensor(labels)
    if len(texts) != len(labels):
        raise ValueError(f"expected one label per text, got {len(labels)} for {len(texts)}")
    keep = (labels != target).nonzero().flatten().tolist()
    triggered = trigger.apply([texts[i] for i in keep], torch.Generator().manual_seed(int(seed)))

    def predict(batch: Sequence[str]) -> torch.Tensor:
        return predict_logits(model, vocab.encode(list(batch)), batch_size).argmax(1)

    acc = lambda batch: float((predict(batch) == labels).double().mean())  # noqa: E731
    asr = lambda batch: float((predict(batch) == target).double().mean()) if keep else float("nan")  # noqa: E731
    cleans, asrs = [], []
    for t in thresholds:
        cleans.append(acc(onion_filter(texts, lm, t)))
        asrs.append(asr(onion_filter(triggered, lm, t)))
    return OnionResult([float(t) for t in thresholds], acc(texts), asr(triggered), cleans, asrs, len(texts), len(keep))


def onion_run(path, thresholds: Sequence[float] = (0.0, 10.0, 50.0), n: Optional[int] = None,
              seed: int = 0) -> OnionResult:
    """ONION on a poisoned text run: the bigram model is fitted on the run's training texts as it saw
    them (the poisoned split, rebuilt from ``config.json``), the evaluation uses the test split."""
    from pathlib import Path

    from .. import runs
    from ..data import Vocab, load_dataset
    from ..data.poison import poison_dataset, recorded_trigger_params, trigger_from_config

    run = runs.load_run(path)
    cfg, poison = run.config["data"], run.config.get("poison")
    if not poison:
        raise ValueError(f"expected a run trained with --poison (a text trigger), got {path} without one")
    train = load_dataset(cfg["name"], root=cfg.get("root"), split="train")
    kw = recorded_trigger_params(poison)
    train = poison_dataset(train, poison["attack"], rate=poison["rate"], target=poison["target"],
                           seed=poison["seed"], mode=poison["mode"], clean_label=poison["clean_label"], **kw)
    test = load_dataset(cfg["name"], root=cfg.get("root"), split="test")
    texts, labels = list(test.texts), test.labels
    if n is not None:
        texts, labels = texts[:n], labels[:n]
    return onion_evaluate(run.model, Vocab.load(Path(path) / "vocab.json"), texts, labels,
                          trigger_from_config(poison), int(poison["target"]), BigramLM(train.texts),
                          thresholds, seed)
