"""Penultimate features of any classifier (the head's input), for the data-level detectors."""
from __future__ import annotations

import torch
from torch import nn


def penultimate(model: nn.Module, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """The input of the model's last ``nn.Linear`` (``forward_features`` when the model has it)."""
    feats = []
    use_ff = hasattr(model, "forward_features")
    last = None if use_ff else [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    store = {}
    handle = None if use_ff else last.register_forward_hook(lambda m, i, o: store.__setitem__("h", i[0]))
    try:
        with torch.no_grad():
            for i in range(0, x.shape[0], batch_size):
                xb = x[i:i + batch_size]
                if use_ff:
                    feats.append(model.forward_features(xb).flatten(1).float())
                else:
                    model(xb)
                    feats.append(store["h"].flatten(1).float())
    finally:
        if handle is not None:
            handle.remove()
    return torch.cat(feats)


def precision_recall(flagged: torch.Tensor, truth: torch.Tensor | None) -> dict:
    """Precision/recall of flagged sample indices against the wrapper's poisoned indices."""
    if truth is None:
        return {}
    f, t = set(flagged.tolist()), set(truth.tolist())
    tp = len(f & t)
    return {"precision": tp / len(f) if f else 0.0, "recall": tp / len(t) if t else 0.0}
