"""Causal language modelling: next-token cross-entropy on (ids, next-ids) windows."""
from __future__ import annotations

from typing import Any, Dict

import torch.nn.functional as F

from ...metrics.perplexity import perplexity
from .base import Method, MethodOutput, register_method


@register_method("lm", domains=("token",))
class LanguageModeling(Method):
    """Mean next-token cross-entropy (optional label smoothing); the test record holds the
    held-out loss (nats/token), perplexity exp(loss) and next-token accuracy."""

    def __init__(self) -> None:
        pass

    def loss(self, model, x, y, ctx):
        logits = model(x)
        if logits.dim() != 3 or logits.shape[:2] != y.shape:
            raise ValueError(f"expected next-token logits of shape N×L×V for targets {tuple(y.shape)}, "
                             f"got {tuple(logits.shape)}; is the model a causal language model?")
        loss = F.cross_entropy(logits.flatten(0, 1), y.flatten(), label_smoothing=ctx.label_smoothing)
        return MethodOutput(loss, logits)

    def evaluate(self, model, dataset, device) -> Dict[str, Any]:
        r = perplexity(model, dataset, device=device)
        return {"test_loss": r.loss, "test_perplexity": r.perplexity, "test_acc": r.accuracy}
