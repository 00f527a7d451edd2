"""Next-token loss, perplexity and accuracy of a causal language model on (ids, next-ids) data."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from .._model import model_device, model_state


@dataclass
class LanguageModelResult:
    """``loss``: mean next-token cross-entropy (nats/token); ``perplexity`` = exp(loss);
    ``accuracy``: fraction of tokens whose argmax prediction is the next token; ``n_tokens`` scored."""

    loss: float
    perplexity: float
    accuracy: float
    n_tokens: int

    def to_dict(self) -> dict:
        return asdict(self)


@torch.no_grad()
def perplexity(model: nn.Module, dataset, batch_size: int = 64, device: Optional[torch.device] = None,
               ignore_index: int = -100) -> LanguageModelResult:
    """Perplexity exp(−(1/T) Σ_t log p(x_{t+1} | x_≤t)) over every target token of ``dataset``
    (``get_batch``/``tensors`` giving ids N×L and next-token targets N×L); targets equal to
    ``ignore_index`` (e.g. padding) are not scored. The model's train/eval mode is restored."""
    device = device or model_device(model)
    n = len(dataset)
    if n == 0:
        raise ValueError("expected a non-empty dataset to score, got 0 windows")
    nll, correct, count = 0.0, 0, 0
    with model_state(model, train=False):
        for start in range(0, n, batch_size):
            x, y = dataset.get_batch(torch.arange(start, min(n, start + batch_size)))
            x, y = x.to(device), y.to(device)
            logits = model(x).float()
            keep = y != ignore_index
            nll += float(F.cross_entropy(logits[keep], y[keep], reduction="sum"))
            correct += int((logits.argmax(-1)[keep] == y[keep]).sum())
            count += int(keep.sum())
    loss = nll / max(count, 1)
    return LanguageModelResult(loss=loss, perplexity=math.exp(loss), accuracy=correct / max(count, 1), n_tokens=count)
