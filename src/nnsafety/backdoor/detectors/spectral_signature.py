"""Spectral signatures (Tran et al. 2018): poisoned samples stick out along the top singular vector.

Per training label c: centre the penultimate features R_c of its samples, take the top right
singular vector v, and score each sample by its projection R_c·v (the paper's outlier score is
its square). A class holding a second (poisoned) population splits along v: we measure the split
by the best two-group division of the sorted projections (Otsu's criterion, between-group variance
/ total variance, in [0, 1]). Model-level score: the largest separation over classes, threshold 0.88
(clean digits MLPs/CNNs stay at or below ~0.83). In classes at or above the threshold we remove, as
the paper does, the 1.5·ε·n_c highest outlier scores, with ε the estimated poisoned fraction (the
smaller group of the split) instead of a rate the defender cannot know.
"""
from __future__ import annotations

import torch

from ._features import penultimate, precision_recall
from .base import Detector, register_detector


def otsu_separation(p: torch.Tensor, min_frac: float = 0.05) -> tuple[float, int]:
    """Best between-group variance / total variance over splits of sorted values (vectorized);
    returns (separation, size of the lower group)."""
    p = p.double().sort().values
    n = p.numel()
    k = torch.arange(1, n)
    cs = p.cumsum(0)[:-1]
    m1, m2 = cs / k, (p.sum() - cs) / (n - k)
    between = k * (n - k) / n ** 2 * (m1 - m2) ** 2
    ok = (k >= max(1, int(min_frac * n))) & (k <= n - max(1, int(min_frac * n)))
    between = torch.where(ok, between, torch.zeros_like(between))
    i = int(between.argmax())
    return float(between[i] / p.var(unbiased=False).clamp_min(1e-12)), int(k[i])


@register_detector("spectral_signature", domains=("image", "feature"))
class SpectralSignature(Detector):
    needs = "the training set"
    threshold = 0.88

    def __init__(self, min_class_size: int = 10) -> None:
        self.min_class_size = int(min_class_size)

    def _detect(self, model, ctx):
        x, y = ctx.train
        feats = penultimate(model, x)
        flagged, seps = [], []
        for c in range(ctx.num_classes):
            idx = (y == c).nonzero().flatten()
            if idx.numel() < self.min_class_size:
                seps.append(0.0)
                continue
            r = feats[idx] - feats[idx].mean(0)
            _, _, vh = torch.linalg.svd(r, full_matrices=False)
            proj = r @ vh[0]
            sep, n_low = otsu_separation(proj)
            seps.append(sep)
            if sep >= self.threshold:
                eps = min(n_low, idx.numel() - n_low) / idx.numel()
                # orient the projection so the smaller group has the large outlier scores
                score = proj if n_low > idx.numel() - n_low else -proj
                k = min(int(round(1.5 * eps * idx.numel())), idx.numel())
                flagged.append(idx[score.topk(k).indices])
        flagged_t = torch.cat(flagged) if flagged else torch.empty(0, dtype=torch.long)
        target = int(torch.tensor(seps).argmax())
        return max(seps), target, {"class_separation": seps, "n_flagged": int(flagged_t.numel()),
                                   **precision_recall(flagged_t, ctx.poisoned_indices)}
