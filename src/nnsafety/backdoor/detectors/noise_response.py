"""Data-free noise-response detector: does random noise collapse onto one class (the target)?

Uses ``nnsafety.metrics.noise_response`` with data-free probes for five probe settings (Gaussian,
uniform and salt-and-pepper noise around a grey image; Gaussian and salt-and-pepper noise around
uniform-random images), 11 levels on [0, 1], 200 probes each. ``class_fraction`` (levels × classes)
is averaged over levels > 0: the *attraction* of each class under each setting (settings × K).

- Unsupervised score: the largest class attraction averaged over settings (how strongly noise
  collapses onto one class); fixed threshold 0.6; the suspected target is that class.
- Meta-classifier mode (``meta=MetaClassifier fitted on a reference zoo``): features are the
  class-indexed attractions (a forest learns which classes absorb noise in *clean* models of this
  data, e.g. the heavy-ink digit 8) plus the sorted ones (class-agnostic); score = forest probability,
  threshold 0.5. The suspected target is still the most attracting class other than a clean-zoo sink.
"""
from __future__ import annotations

from typing import Optional

import torch

from .base import Detector, register_detector
from .meta import MetaClassifier, meta_score

SETTINGS = (("gaussian", "grey"), ("uniform", "grey"), ("salt_and_pepper", "grey"),
            ("gaussian", "uniform"), ("salt_and_pepper", "uniform"))


def attraction(model, in_shape, num_classes: int, n_probes: int = 200, n_levels: int = 11, seed: int = 0) -> torch.Tensor:
    """Settings × K mean fraction of noise probes predicted as each class (levels > 0)."""
    from ...metrics.noise_response import noise_response

    levels = torch.linspace(0, 1, n_levels).tolist()
    rows = []
    for family, mode in SETTINGS:
        res = noise_response(model, family=family, data_free_mode=mode, in_shape=in_shape, num_classes=num_classes,
                             n_probes=n_probes, levels=levels, seed=seed)
        rows.append(torch.tensor(res.class_fraction, dtype=torch.float64)[1:].mean(0))
    return torch.stack(rows)


@register_detector("noise_response")
class NoiseResponseDetector(Detector):
    needs = "weights only"

    def __init__(self, meta: Optional[MetaClassifier] = None, n_probes: int = 200, n_levels: int = 11,
                 threshold: Optional[float] = None) -> None:
        self.meta, self.n_probes, self.n_levels = meta, int(n_probes), int(n_levels)
        self.threshold = float(threshold) if threshold is not None else (0.5 if meta is not None else 0.6)

    def features(self, model, ctx) -> torch.Tensor:
        a = attraction(model, ctx.in_shape, ctx.num_classes, self.n_probes, self.n_levels, ctx.seed)
        return torch.cat([a.flatten(), a.sort(1, descending=True).values.flatten()])

    def _detect(self, model, ctx):
        a = attraction(model, ctx.in_shape, ctx.num_classes, self.n_probes, self.n_levels, ctx.seed)
        mean = a.mean(0)
        target = int(mean.argmax())
        feats = torch.cat([a.flatten(), a.sort(1, descending=True).values.flatten()])
        unsup = float(mean[target])
        ms = meta_score(self.meta, feats.tolist())
        return (ms if ms is not None else unsup), target, {
            "unsupervised_score": unsup, "meta_score": ms, "class_attraction": mean.tolist(),
            "features": feats.tolist()}
