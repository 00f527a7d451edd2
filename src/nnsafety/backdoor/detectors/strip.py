"""STRIP (Gao et al. 2019): a triggered input keeps its (target) prediction when blended with others.

Each input x is superimposed with N = 20 clean images (x + x_j)/2 — the paper's linear blend — and
the mean Shannon entropy (nats) of the N predictions is its score: a trigger dominates every blend,
so triggered inputs have abnormally *low* entropy. The decision boundary is the 1 % quantile of
the entropies of the clean samples themselves (false rejection rate 1 %, the paper's operating
point). Screening the training set (``ctx.train``) gives the flagged indices (precision/recall vs
the poisoned indices) and the model-level score: the fraction of screened inputs flagged, minus
the 1 % expected by construction; threshold 0.02.
"""
from __future__ import annotations

import torch

from ._features import precision_recall
from .base import Detector, register_detector


def strip_entropy(model, x: torch.Tensor, overlays: torch.Tensor, n: int = 20, generator=None,
                  batch_size: int = 4096) -> torch.Tensor:
    """Mean prediction entropy of each input of ``x`` over ``n`` blends with random ``overlays``."""
    g = generator or torch.Generator().manual_seed(0)
    idx = torch.randint(overlays.shape[0], (x.shape[0], n), generator=g)
    out = torch.empty(x.shape[0])
    per = max(1, batch_size // n)
    with torch.no_grad():
        for i in range(0, x.shape[0], per):
            xb = x[i:i + per]
            blend = 0.5 * (xb.unsqueeze(1) + overlays[idx[i:i + per]])
            logp = model(blend.flatten(0, 1)).float().log_softmax(1)
            ent = -(logp.exp() * logp).sum(1).view(xb.shape[0], n)
            out[i:i + per] = ent.mean(1)
    return out


@register_detector("strip")
class Strip(Detector):
    needs = "the training set"
    threshold = 0.02

    def __init__(self, n_overlays: int = 20, frr: float = 0.01) -> None:
        if n_overlays < 1 or not 0 < frr < 1:
            raise ValueError(f"expected n_overlays >= 1 and frr in (0, 1), got {n_overlays}, {frr}")
        self.n_overlays, self.frr = int(n_overlays), float(frr)

    def entropy(self, model, x: torch.Tensor, overlays: torch.Tensor, generator) -> torch.Tensor:
        """Mean prediction entropy of each input over its superimpositions (the hook STRIP for text overrides)."""
        return strip_entropy(model, x, overlays, self.n_overlays, generator)

    def _detect(self, model, ctx):
        if ctx.clean is None:
            raise ValueError("detector 'strip' needs a few clean samples (ctx.clean) as overlays, got none")
        g = torch.Generator().manual_seed(ctx.seed)
        clean_x = ctx.clean[0]
        boundary = float(self.entropy(model, clean_x, clean_x, g).quantile(self.frr))
        x, _ = ctx.train
        ent = self.entropy(model, x, clean_x, g)
        flagged = (ent < boundary).nonzero().flatten()
        with torch.no_grad():
            pred = model(x[flagged]).argmax(1) if flagged.numel() else torch.empty(0, dtype=torch.long)
        target = int(pred.mode().values) if pred.numel() else None
        score = flagged.numel() / x.shape[0] - self.frr
        return score, target, {"entropy_boundary": boundary, "n_flagged": int(flagged.numel()),
                               **precision_recall(flagged, ctx.poisoned_indices)}
