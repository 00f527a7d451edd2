"""Word-level text augmentation on token ids (EDA, Wei & Zou, EMNLP 2019), one registered op each.

Each op takes ids N×L (0 = padding, as in ``nnsafety.data.vocab``; real tokens a prefix), a rate p and a generator, and returns
new ids of the same shape with the real tokens still a prefix:
- ``delete``: each real token is dropped with probability p (at least one token stays);
- ``swap``: max(1, round(p·n)) swaps (none at p = 0) of two random real positions (n = the text's real tokens);
- ``insert``: max(1, round(p·n)) times, a copy of a random word of the text is inserted at a random
  position (EDA inserts a synonym of a random word; without word vectors the word stands in for
  its synonym), cut at length L;
- ``replace``: max(1, round(p·n)) random real positions get a neighbour of their word from a
  ``neighbours`` table V×K (EDA's synonym replacement with word-vector neighbours); without a
  table it is the identity.
Randomness comes from the caller's generator only, so same seed -> same augmented text.
"""
from __future__ import annotations

from typing import Callable, List, Optional

import torch

from .._registry import Registry

WORD_OPS: Registry[Callable] = Registry("word op", default_domains=("token",))


def _rows(ids: torch.Tensor):
    for i, row in enumerate(ids.tolist()):
        n = sum(1 for t in row if t != 0)
        yield i, row[:n]


def _put(out: torch.Tensor, i: int, words: List[int]) -> None:
    words = words[: out.shape[1]]
    out[i].zero_()
    if words:
        out[i, : len(words)] = torch.tensor(words, dtype=out.dtype)


def _count(p: float, n: int) -> int:
    return max(1, int(round(p * n))) if n > 0 and p > 0 else 0


def _randint(high: int, generator: Optional[torch.Generator]) -> int:
    return int(torch.randint(high, (1,), generator=generator))


@WORD_OPS.register("delete")
def delete(ids: torch.Tensor, p: float, generator: Optional[torch.Generator] = None, **_) -> torch.Tensor:
    out = ids.clone()
    for i, words in _rows(ids):
        keep = (torch.rand(len(words), generator=generator) >= p).tolist()
        kept = [w for w, k in zip(words, keep) if k]
        _put(out, i, kept if kept or not words else [words[_randint(len(words), generator)]])
    return out


@WORD_OPS.register("swap")
def swap(ids: torch.Tensor, p: float, generator: Optional[torch.Generator] = None, **_) -> torch.Tensor:
    out = ids.clone()
    for i, words in _rows(ids):
        for _ in range(_count(p, len(words)) if len(words) > 1 else 0):
            a, b = _randint(len(words), generator), _randint(len(words), generator)
            words[a], words[b] = words[b], words[a]
        _put(out, i, words)
    return out


@WORD_OPS.register("insert")
def insert(ids: torch.Tensor, p: float, generator: Optional[torch.Generator] = None, **_) -> torch.Tensor:
    out = ids.clone()
    for i, words in _rows(ids):
        for _ in range(_count(p, len(words))):
            word = words[_randint(len(words), generator)]
            words.insert(_randint(len(words) + 1, generator), word)
        _put(out, i, words)
    return out


@WORD_OPS.register("replace")
def replace(ids: torch.Tensor, p: float, generator: Optional[torch.Generator] = None,
            neighbours: Optional[torch.Tensor] = None, **_) -> torch.Tensor:
    if neighbours is None:
        return ids.clone()
    out = ids.clone()
    for i, words in _rows(ids):
        for _ in range(_count(p, len(words))):
            pos = _randint(len(words), generator)
            words[pos] = int(neighbours[words[pos], _randint(neighbours.shape[1], generator)])
        _put(out, i, words)
    return out


def word_noise(ids: torch.Tensor, op: str, p: float, generator: Optional[torch.Generator] = None,
               **kwargs) -> torch.Tensor:
    """Apply the registered word op ``op`` at rate ``p`` in [0, 1] to every text of ``ids``."""
    if not 0 <= p <= 1:
        raise ValueError(f"expected a word-op rate p in [0, 1], got {p}")
    if ids.dtype != torch.int64 or ids.dim() != 2:
        raise ValueError(f"expected int64 token ids of shape N×L, got {ids.dtype} of shape {tuple(ids.shape)}")
    return WORD_OPS.get(op)(ids, p, generator, **kwargs)


TEXT_AUGMIX_OPS = ("delete", "swap", "insert")


def text_augmix(ids: torch.Tensor, severity: float = 3, depth: int = -1,
                generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """A text AugMix view: per text, a chain of ``depth`` word ops (1–3 when −1), each drawn uniformly
    from ``TEXT_AUGMIX_OPS``, at rate severity/30 (severity 3 -> 0.1, EDA's recommended rate).

    Token ids cannot be mixed convexly, so unlike image AugMix a view is a single chain; the methods
    that use views (NoisyMix, AugMix-JSD) mix in embedding space after the views are embedded.
    """
    if not 0 < severity <= 10 or not (depth == -1 or depth >= 1):
        raise ValueError(f"expected severity in (0, 10] and depth -1 or >= 1, got {severity} and {depth}")
    rate = severity / 30.0
    out = ids.clone()
    for i in range(ids.shape[0]):
        d = depth if depth > 0 else 1 + _randint(3, generator)
        row = ids[i:i + 1]
        for _ in range(d):
            row = WORD_OPS.get(TEXT_AUGMIX_OPS[_randint(len(TEXT_AUGMIX_OPS), generator)])(row, rate, generator)
        out[i] = row[0]
    return out


def list_word_ops() -> List[str]:
    return WORD_OPS.names()

