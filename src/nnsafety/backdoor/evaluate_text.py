"""Backdoor metrics of a text model: C-Acc on clean texts, ASR and R-Acc on triggered ones.

Texts are encoded with the model's own vocabulary (a poisoned run's ``vocab.json``), so a rare-word
trigger reaches the model as the token it was trained on.
"""
from __future__ import annotations

import torch
from torch import nn

from .._model import predict_logits
from ..data.poison import backdoor_label
from ..data.text import TokenDataset
from ..data.triggers_text import TextTrigger
from ..data.vocab import Vocab
from .evaluate import BackdoorMetrics


def text_backdoor_metrics(model: nn.Module, dataset: TokenDataset, trigger: TextTrigger, target: int, vocab: Vocab,
                          mode: str = "all_to_one", seed: int = 0, batch_size: int = 512) -> BackdoorMetrics:
    """C-Acc on ``dataset``'s clean texts; ASR = share of triggered texts (true label ≠ target for
    all-to-one) predicted as the attacker's label; R-Acc = their accuracy w.r.t. the true labels.
    ``seed`` draws the random trigger positions."""
    if dataset.texts is None:
        raise ValueError("expected a TokenDataset with its raw texts, got one without (texts=None)")
    y = dataset.labels
    clean = predict_logits(model, vocab.encode(dataset.texts), batch_size).argmax(1)
    keep = (y != target) if mode == "all_to_one" else torch.ones_like(y, dtype=torch.bool)
    idx = keep.nonzero().flatten().tolist()
    g = torch.Generator().manual_seed(int(seed))
    triggered = trigger.apply([dataset.texts[i] for i in idx], g)
    pred = predict_logits(model, vocab.encode(triggered), batch_size).argmax(1) if idx else torch.zeros(0, dtype=torch.long)
    y_t = y[idx]
    asr = float((pred == backdoor_label(y_t, target, mode, dataset.num_classes)).double().mean()) if idx else float("nan")
    racc = float((pred == y_t).double().mean()) if idx else float("nan")
    return BackdoorMetrics(float((clean == y).double().mean()), asr, racc, len(y), len(idx), trigger.name,
                           int(target), mode)


def text_run_backdoor_metrics(model: nn.Module, dataset: TokenDataset, poison_config, run_dir) -> BackdoorMetrics:
    """``text_backdoor_metrics`` under a run's recorded poisoning (``config.json["poison"]``), with the
    run's own tokenizer (``<run_dir>/vocab.json``)."""
    from pathlib import Path

    from ..data.poison import trigger_from_config

    cfg = dict(poison_config)
    trigger = trigger_from_config(cfg)
    if not isinstance(trigger, TextTrigger):
        raise ValueError(f"expected a text trigger (rare_word, insert_sent, char), got {cfg['attack']!r}")
    vocab = Vocab.load(Path(run_dir) / "vocab.json")
    return text_backdoor_metrics(model, dataset, trigger, int(cfg.get("target", 0)), vocab,
                                 cfg.get("mode", "all_to_one"), seed=int(cfg.get("seed", 0)))
