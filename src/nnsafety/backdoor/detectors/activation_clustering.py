"""Activation clustering (Chen et al. 2018): a poisoned class splits into two activation clusters.

Per training label c: penultimate features, reduced to ``dims`` = 10 components (PCA here, the
paper uses ICA; both only make 2-means tractable), then 2-means. The smaller cluster of a class is
suspicious when its relative size is at most ``max_size`` (0.35, the paper's size criterion) and
the split is well separated (silhouette ≥ the threshold) — those samples are flagged. Model-level score: the largest over classes of the silhouette score of
the split (well-separated clusters mean a second population); threshold 0.3 (documented).
"""
from __future__ import annotations

import torch

from ._features import penultimate, precision_recall
from .base import Detector, register_detector


@register_detector("activation_clustering", domains=("image", "feature"))
class ActivationClustering(Detector):
    needs = "the training set"
    threshold = 0.3

    def __init__(self, dims: int = 10, max_size: float = 0.35) -> None:
        if dims < 1 or not 0 < max_size < 0.5:
            raise ValueError(f"expected dims >= 1 and max_size in (0, 0.5), got {dims}, {max_size}")
        self.dims, self.max_size = int(dims), float(max_size)

    def _detect(self, model, ctx):
        from sklearn.cluster import KMeans
        from sklearn.metrics import silhouette_score

        x, y = ctx.train
        feats = penultimate(model, x)
        flagged, sil = [], []
        for c in range(ctx.num_classes):
            idx = (y == c).nonzero().flatten()
            if idx.numel() < 4:
                sil.append(0.0)
                continue
            r = feats[idx] - feats[idx].mean(0)
            q = min(self.dims, *r.shape)
            _, _, v = torch.pca_lowrank(r, q=q, center=False)
            z = (r @ v[:, :q]).numpy()
            km = KMeans(2, n_init=3, random_state=ctx.seed).fit(z)
            lab = torch.as_tensor(km.labels_)
            sil.append(float(silhouette_score(z, km.labels_)) if len(set(km.labels_)) > 1 else 0.0)
            small = int(lab.sum() * 2 < lab.numel())  # the cluster id with fewer members
            frac = float((lab == small).double().mean())
            if frac <= self.max_size and sil[-1] >= self.threshold:
                flagged.append(idx[lab == small])
        flagged_t = torch.cat(flagged) if flagged else torch.empty(0, dtype=torch.long)
        target = int(torch.tensor(sil).argmax())
        return max(sil), target, {"silhouette": sil, "n_flagged": int(flagged_t.numel()),
                                  **precision_recall(flagged_t, ctx.poisoned_indices)}
