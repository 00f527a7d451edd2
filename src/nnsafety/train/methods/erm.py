"""Plain empirical risk minimisation."""
from __future__ import annotations

import torch.nn.functional as F

from .base import Method, MethodOutput, register_method


@register_method("erm", domains=("image", "token"))
class ERM(Method):
    """Empirical risk minimisation: cross-entropy on the clean batch (optional label smoothing)."""

    def __init__(self) -> None:
        pass

    def loss(self, model, x, y, ctx):
        logits = model(x)
        return MethodOutput(F.cross_entropy(logits, y, label_smoothing=ctx.label_smoothing), logits)
