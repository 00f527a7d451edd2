"""Poisoning a text dataset: triggers on round(rate·N) raw training texts, then a fresh vocabulary.

The attacker edits raw data and the victim builds its vocabulary from what it got, so the
vocabulary is rebuilt from the poisoned texts (same max_len / min_freq / max_size): at rate·N ≥
min_freq the rare words ("cf") become tokens of their own, as in BadNL. Test texts must then be
encoded with this vocabulary (``encode_with``), which the run stores as ``vocab.json``.
"""
from __future__ import annotations

from typing import Any, Dict, Optional

import torch

from .poison import _check, backdoor_label
from .text import TokenDataset
from .triggers import create_trigger
from .triggers_text import TextTrigger
from .vocab import Vocab


class PoisonedTokenDataset(TokenDataset):
    """A ``TokenDataset`` with triggered texts at ``poisoned_indices``; ``poison_config`` is JSON-ready."""

    def __init__(self, base: TokenDataset, ids, labels, vocab, texts, poisoned_indices, clean_labels, trigger,
                 poison_config: Dict[str, Any]) -> None:
        super().__init__(ids, labels, base.classes, vocab, texts, base.name)
        self.data_root = base.data_root
        self.poisoned_indices, self.clean_labels = poisoned_indices, clean_labels
        self.trigger, self.poison_config = trigger, poison_config

    def __repr__(self) -> str:
        c = self.poison_config
        return (f"PoisonedTokenDataset(name={self.name!r}, n={len(self)}, attack={c['attack']!r}, "
                f"n_poisoned={c['n_poisoned']}, target={c['target']}, clean_label={c['clean_label']})")


def encode_with(dataset: TokenDataset, vocab: Vocab, texts=None) -> TokenDataset:
    """``dataset`` (or ``texts`` with its labels) encoded with another vocabulary (the poisoned run's)."""
    texts = list(dataset.texts if texts is None else texts)
    out = TokenDataset(vocab.encode(texts), dataset.labels.clone(), dataset.classes, vocab, texts, dataset.name)
    out.data_root = dataset.data_root
    return out


def poison_token_dataset(dataset: TokenDataset, attack: str, *, rate: float, target: int = 0, seed: int = 0,
                         mode: str = "all_to_one", clean_label: Optional[bool] = None,
                         **trigger_kwargs: Any) -> PoisonedTokenDataset:
    """Poison exactly round(rate·N) texts of ``dataset`` with text trigger ``attack``.

    Candidates as in ``poison_dataset``: all-to-one -> texts not of class ``target`` (relabelled),
    all-to-all -> every text (y + 1 mod K), clean-label -> texts of class ``target``, labels kept.
    ``seed`` picks the texts and the random insertion positions.
    """
    trigger = create_trigger(attack, **trigger_kwargs)
    if not isinstance(trigger, TextTrigger):
        raise ValueError(f"expected a text trigger (rare_word, insert_sent, char), got the image trigger {attack!r}")
    if dataset.texts is None:
        raise ValueError("expected a TokenDataset with its raw texts, got one without (texts=None)")
    K, N = dataset.num_classes, len(dataset)
    _check(attack, rate, target, mode, K)
    clean_label = bool(clean_label)
    if clean_label and mode != "all_to_one":
        raise ValueError(f"expected mode all_to_one with clean_label, got {mode!r}")
    y = dataset.labels
    candidates = (y == target) if clean_label else (y != target) if mode == "all_to_one" else torch.ones_like(y, dtype=torch.bool)
    candidates = candidates.nonzero().flatten()
    n = int(round(rate * N))
    if n < 1 or n > candidates.numel():
        raise ValueError(f"expected poison rate {rate} to select between 1 and {candidates.numel()} texts "
                         f"(round(rate·{N}) = {n})")
    g = torch.Generator().manual_seed(int(seed))
    chosen = candidates[torch.randperm(candidates.numel(), generator=g)[:n]].sort().values
    texts = list(dataset.texts)
    for i, t in zip(chosen.tolist(), trigger.apply([texts[i] for i in chosen.tolist()], g)):
        texts[i] = t
    labels = y.clone()
    if not clean_label:
        labels[chosen] = backdoor_label(y[chosen], target, mode, K)
    v = dataset.vocab
    vocab = Vocab.build(texts, max_len=v.max_len, min_freq=v.min_freq, max_size=v.max_size)
    config = {"attack": attack, "rate": float(rate), "target": int(target), "mode": mode, "clean_label": clean_label,
              "seed": int(seed), "trigger": trigger.config()["params"], "n_poisoned": n,
              "poisoned_indices": chosen.tolist()}
    return PoisonedTokenDataset(dataset, vocab.encode(texts), labels, vocab, texts, chosen, y.clone(), trigger, config)
