"""Data-free noise-response detector: does random noise collapse onto one class (the target)?

Probes (``_probes.noise_probe_bank``): 5 bases (grey, black, white, random constant, uniform-random
pixels) × 4 noise families (Gaussian, salt-and-pepper, 2×2 and 4×4 low-frequency fields) × 6 levels
on [0.1, 1] × ``n_probes`` = 3,000 images for the default 25, one batched forward pass. The class
profile of a model is, per (base, family) setting, the mean softmax probability of each class
(20 × K): how strongly noise of that kind is attracted by each class.

- Unsupervised score: the largest over classes of the fraction of probes predicted as that class
  (all settings pooled); fixed threshold 0.6; the suspected target is that class. On digits it also
  fires on clean CNNs, whose noise falls into the heavy-ink digit 8.
- Meta-classifier mode (``meta=ProfileMeta`` fitted on a reference zoo, JSON on disk): the profile is
  z-scored against the reference's clean models — how much *more* a class attracts noise than in
  clean models of this data — and class-agnostic maxima of z go into a logistic regression
  (``meta.ProfileMeta``); score = probability, threshold 0.5; suspected target = class of the largest z.
  (A random-forest ``MetaClassifier`` is accepted too, on the flat profile.)
"""
from __future__ import annotations

import os
from typing import Optional

import torch

from ..._model import batched_logits
from ._probes import PROBE_BASES, PROBE_FAMILIES, noise_probe_bank
from .base import Detector, register_detector
from .meta import ProfileMeta, load_meta, meta_score

N_SETTINGS = len(PROBE_BASES) * len(PROBE_FAMILIES)
#: settings of one probe base (the blocks of ``ProfileMeta``)
BLOCKS = [[b * len(PROBE_FAMILIES) + f for f in range(len(PROBE_FAMILIES))] for b in range(len(PROBE_BASES))]


def class_profile(model, in_shape, num_classes: int, n_probes: int = 25, seed: int = 0,
                  batch_size: int = 8192) -> tuple[torch.Tensor, torch.Tensor]:
    """(settings × K mean softmax probability, K fraction of all probes predicted as each class)."""
    x, group = noise_probe_bank(in_shape, n_probes, generator=torch.Generator().manual_seed(seed))
    logits = batched_logits(model, x, batch_size).double()
    if logits.shape[1] != num_classes:
        raise ValueError(f"expected a model with {num_classes} outputs, got {logits.shape[1]}")
    prob = logits.softmax(1)
    profile = torch.zeros(N_SETTINGS, num_classes, dtype=torch.float64).index_add_(0, group, prob)
    profile /= torch.bincount(group, minlength=N_SETTINGS).view(-1, 1).double()
    fraction = torch.bincount(logits.argmax(1), minlength=num_classes).double() / logits.shape[0]
    return profile, fraction


def new_profile_meta(num_classes: int, **kw) -> ProfileMeta:
    """An unfitted meta-classifier matching this detector's profile layout."""
    return ProfileMeta(num_classes, BLOCKS, **kw)


@register_detector("noise_response")
class NoiseResponseDetector(Detector):
    needs = "weights only"

    def __init__(self, meta=None, n_probes: int = 25, threshold: Optional[float] = None) -> None:
        """``meta``: None (unsupervised), a fitted meta-classifier, or a packaged reference's name
        (``"digits"``) or JSON path, loaded with ``load_meta`` as on the command line."""
        if n_probes < 1:
            raise ValueError(f"expected n_probes >= 1, got {n_probes}")
        if isinstance(meta, (str, os.PathLike)):
            meta = load_meta(meta)
        self.meta, self.n_probes = meta, int(n_probes)
        self.threshold = float(threshold) if threshold is not None else (0.5 if meta is not None else 0.6)

    def features(self, model, ctx) -> torch.Tensor:
        return class_profile(model, ctx.in_shape, ctx.num_classes, self.n_probes, ctx.seed)[0].flatten()

    def _detect(self, model, ctx):
        profile, fraction = class_profile(model, ctx.in_shape, ctx.num_classes, self.n_probes, ctx.seed)
        feats = profile.flatten().tolist()
        target = int(fraction.argmax())
        unsup = float(fraction[target])
        ms = meta_score(self.meta, feats)
        if isinstance(self.meta, ProfileMeta):
            target = int(self.meta.suspected_target([feats])[0])
        return (ms if ms is not None else unsup), target, {
            "unsupervised_score": unsup, "meta_score": ms, "class_attraction": fraction.tolist(), "features": feats}
