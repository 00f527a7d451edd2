"""STRIP for text (Gao et al., STRIP-ViTA, 2020): superimposition = random word replacement.

Text cannot be blended, so each input gets ``n_overlays`` copies in which every real token is
replaced, with probability ``fraction``, by a word drawn uniformly from the clean texts' tokens; a
trigger word that survives keeps the copies on the target class (low mean entropy, nats), while a
clean text's copies wander. Everything else (1 % false-rejection boundary on the clean texts, the
flagged share of the screened training set as the score, threshold 0.02) is the image detector's.
"""
from __future__ import annotations

import torch

from .base import register_detector
from .strip import Strip


@register_detector("strip_text", domains=("token",))
class StripText(Strip):
    def __init__(self, n_overlays: int = 20, frr: float = 0.01, fraction: float = 0.3, pad_id: int = 0,
                 batch_size: int = 4096) -> None:
        super().__init__(n_overlays, frr)
        if not 0 < fraction < 1:
            raise ValueError(f"expected fraction in (0, 1) (share of words replaced), got {fraction}")
        self.fraction, self.pad_id, self.batch_size = float(fraction), int(pad_id), int(batch_size)

    def entropy(self, model, x: torch.Tensor, overlays: torch.Tensor, generator) -> torch.Tensor:
        pool = overlays[overlays != self.pad_id]
        if pool.numel() == 0:
            raise ValueError("strip_text needs clean texts with at least one real token, got only padding")
        n, out = self.n_overlays, torch.empty(x.shape[0])
        per = max(1, self.batch_size // n)
        with torch.no_grad():
            for i in range(0, x.shape[0], per):
                xb = x[i:i + per].repeat_interleave(n, dim=0)
                hit = (torch.rand(xb.shape, generator=generator) < self.fraction) & (xb != self.pad_id)
                words = pool[torch.randint(pool.numel(), xb.shape, generator=generator)]
                logp = model(torch.where(hit, words, xb)).float().log_softmax(1)
                out[i:i + per] = -(logp.exp() * logp).sum(1).view(-1, n).mean(1)
        return out
