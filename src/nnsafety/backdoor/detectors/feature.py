"""Backdoor detectors for feature-space classifiers (``FeatureDomain``: spam, phishing, malware features).

Both read the inputs' ``FeatureDomain`` from ``ctx.domain`` (bounds, kinds, mutable features,
directions, and ``scale``, the per-feature unit of a change), so every probe or inverted trigger is
an input the attacker could really produce.

- ``feature_noise_response`` (weights and the domain only, data-free): random valid inputs near the
  low end of every feature (lower bound + U(0, 2)·scale), then sparse noise in the attacker's
  directions (each mutable feature with probability ``p``, |N(0, σ)|·scale for σ in ``levels``),
  projected onto the domain. A trigger made of a few features at rare values teaches the model a
  shortcut towards its target that random sparse changes hit more often than in a clean model.
  Score: the largest over classes of the share of noisy probes predicted as that class, minus the
  share among the noise-free probes (how much noise *attracts* to one class); suspected target:
  that class. The threshold 0.2 is a default; the zoo calibrates it (docs/results.md).
- ``feature_trigger_inversion`` (a few clean samples): Neural Cleanse (Wang et al. 2019) in feature
  space. Per class t: a mask m = σ(a) over the mutable features and a change
  δ = ``max_change``·scale·tanh(q) (sign-restricted for add-only/remove-only features) turn each
  clean sample of another class into clamp(x + m·δ, bounds); minimise CE(f(·), t) + λ·Σm with Adam and
  Neural Cleanse's λ schedule; keep the smallest Σm reaching ``asr_goal``. A backdoor target needs a
  smaller mask than the other classes. With two classes (most security tasks) Neural Cleanse's
  median/MAD outlier test has nothing to compare, so the score is the log-ratio of the two smallest
  masks, log(Σm_(2) / Σm_(1)); threshold log 2 (a default; the zoo calibrates it).
- ``feature_cooccurrence`` (the training set; the weights are not used): clean-label poisons are
  samples of one label that carry the same few trigger values at once. Explanation-guided triggers
  pick each value where a feature is least populated (MinPopulation), so a pair of trigger values
  occurs together far more often than its two frequencies predict. Each feature is coded into
  levels (its values if it has ≤ ``bins``, else ``bins`` equal-width bins between its 1st and 99th
  percentiles); per label and per pair of features, each cell of the two codes with ≥ ``min_count``
  samples and more than expected is scored by its one-sided Poisson deviance
  o·log(o/e) − (o − e), e = n_a·n_b / n under independence within the label (a ratio o/e instead
  stops growing with the poison rate: the poisons raise n_a and n_b too). Score: the largest over
  labels, pairs and cells; the samples of that cell are the flagged ones. Threshold 200 (a
  default; docs/results.md calibrates it on a zoo).
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F

from ..._model import batched_logits, model_state
from ...domains import FeatureDomain
from ._features import precision_recall
from .base import Detector, register_detector


def _domain(ctx) -> FeatureDomain:
    if not isinstance(ctx.domain, FeatureDomain):
        raise ValueError(f"expected the inputs' FeatureDomain in the detection context, got {type(ctx.domain).__name__}")
    return ctx.domain


def _t(values, like: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(values, dtype=like.dtype, device=like.device)


def feature_probes(domain: FeatureDomain, n: int, levels: Sequence[float], p: float,
                   generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(probes, level index): ``n`` random valid base inputs, each also with sparse noise at every
    level; level index 0 is the noise-free base."""
    lo, hi = torch.tensor(domain.lower), torch.tensor(domain.upper)
    s = torch.tensor(domain.scale)
    base = torch.minimum(lo + 2 * s * torch.rand(n, domain.dim, generator=generator), hi)
    base = domain.project(base, base)  # onto levels and bounds
    direction, mutable = torch.tensor(domain.direction), torch.tensor(domain.mutable)
    out, group = [base], [torch.zeros(n, dtype=torch.long)]
    for i, sigma in enumerate(levels, 1):
        mag = (torch.randn(n, domain.dim, generator=generator) * sigma).abs() * s
        sign = torch.where(direction != 0, direction, torch.randint(0, 2, (n, domain.dim), generator=generator) * 2 - 1)
        hit = (torch.rand(n, domain.dim, generator=generator) < p) & mutable
        out.append(domain.project(base + torch.where(hit, sign * mag, torch.zeros_like(mag)), base))
        group.append(torch.full((n,), i, dtype=torch.long))
    return torch.cat(out), torch.cat(group)


@register_detector("feature_noise_response", domains=("feature",))
class FeatureNoiseResponse(Detector):
    needs = "weights only"

    def __init__(self, n_probes: int = 500, levels: Sequence[float] = (0.5, 1.0, 2.0, 4.0), p: float = 0.25,
                 threshold: float = 0.2) -> None:
        if n_probes < 1 or not levels or not 0 < p <= 1:
            raise ValueError(f"expected n_probes >= 1, levels, p in (0, 1], got {n_probes}, {levels}, {p}")
        self.n_probes, self.levels, self.p, self.threshold = int(n_probes), tuple(levels), float(p), float(threshold)

    def _detect(self, model, ctx):
        domain = _domain(ctx)
        x, group = feature_probes(domain, self.n_probes, self.levels, self.p, torch.Generator().manual_seed(ctx.seed))
        pred = batched_logits(model, x, 4096).argmax(1).cpu()
        share = torch.stack([torch.bincount(pred[group == g], minlength=ctx.num_classes).double() / self.n_probes
                             for g in range(len(self.levels) + 1)])  # (1 + levels) × K
        attraction = (share[1:] - share[0]).mean(0)
        target = int(attraction.argmax())
        return float(attraction[target]), target, {"class_share": share.tolist(), "attraction": attraction.tolist()}


@register_detector("feature_trigger_inversion", domains=("feature",))
class FeatureTriggerInversion(Detector):
    needs = "a few clean samples"
    threshold = math.log(2.0)

    def __init__(self, steps: int = 200, lr: float = 0.1, init_cost: float = 1e-2, max_change: float = 4.0,
                 asr_goal: float = 0.9, patience: int = 5) -> None:
        if steps < 1 or lr <= 0 or init_cost <= 0 or max_change <= 0 or not 0 < asr_goal <= 1:
            raise ValueError("expected steps >= 1, lr > 0, init_cost > 0, max_change > 0, asr_goal in (0, 1]")
        self.steps, self.lr, self.init_cost, self.max_change = int(steps), float(lr), float(init_cost), float(max_change)
        self.asr_goal, self.patience = float(asr_goal), int(patience)

    def invert(self, model, x: torch.Tensor, t: int, domain: FeatureDomain) -> dict:
        """Smallest mask (Σm) that sends ``asr_goal`` of ``x`` to class ``t``, and the trigger."""
        mutable = _t(domain.mutable, x).bool()
        direction, s = _t(domain.direction, x), domain.unit(x)
        lo, hi = _t(domain.lower, x), _t(domain.upper, x)
        a = torch.full((x.shape[1],), -3.0, requires_grad=True)
        q = torch.zeros(x.shape[1], requires_grad=True)
        opt = torch.optim.Adam([a, q], lr=self.lr)
        lam, best, up, down = self.init_cost, (float("inf"), None, None), 0, 0
        y_t = torch.full((x.shape[0],), t, dtype=torch.long)
        with torch.enable_grad():
            for _ in range(self.steps):
                m = torch.sigmoid(a) * mutable
                d = self.max_change * s * torch.tanh(q)
                d = torch.where(direction > 0, d.clamp(min=0), torch.where(direction < 0, d.clamp(max=0), d))
                logits = model(torch.clamp(x + m * d, lo, hi))
                asr = float((logits.argmax(1) == t).double().mean())
                l1 = float(m.detach().sum())
                if asr >= self.asr_goal and l1 < best[0]:
                    best = (l1, m.detach().clone(), d.detach().clone())
                loss = F.cross_entropy(logits, y_t) + lam * m.sum()
                opt.zero_grad()
                loss.backward()
                opt.step()
                up, down = (up + 1, 0) if asr >= self.asr_goal else (0, down + 1)
                if up >= self.patience:
                    lam, up = lam * 1.5, 0
                elif down >= self.patience:
                    lam, down = lam / 1.5, 0
        l1 = best[0] if best[1] is not None else float(mutable.sum())  # never reached: the whole mask
        return {"l1": l1, "mask": None if best[1] is None else best[1].tolist(),
                "change": None if best[2] is None else best[2].tolist()}

    def _detect(self, model, ctx):
        domain = _domain(ctx)
        x, y = ctx.clean
        per_class = []
        with model_state(model, train=False, freeze=True):  # only the mask and the change are optimised
            for t in range(ctx.num_classes):
                xs = x[y != t]
                per_class.append(self.invert(model, xs, t, domain) if xs.shape[0] else {"l1": float("inf")})
        l1 = torch.tensor([c["l1"] for c in per_class], dtype=torch.float64).clamp_min(1e-3)
        target = int(l1.argmin())
        score = float(torch.log(l1.sort().values[1]) - torch.log(l1[target])) if len(l1) > 1 else 0.0
        return score, target, {"mask_l1": l1.tolist(), "trigger": per_class[target]}


def feature_codes(x: torch.Tensor, bins: int = 20) -> torch.Tensor:
    """Per feature, int codes in [0, bins): the rank of each value among the column's values when it
    has ≤ ``bins`` of them, else ``bins`` equal-width bins between its 1st and 99th percentiles."""
    x = x.double()
    codes = torch.empty(x.shape, dtype=torch.long)
    for j in range(x.shape[1]):
        col = x[:, j]
        levels = torch.unique(col)
        if levels.numel() <= bins:
            codes[:, j] = torch.searchsorted(levels, col.contiguous())
        else:
            lo, hi = torch.quantile(col, 0.01), torch.quantile(col, 0.99)
            width = (hi - lo).clamp_min(1e-12) / bins
            codes[:, j] = ((col - lo) / width).floor().clamp(0, bins - 1).long()
    return codes


@register_detector("feature_cooccurrence", domains=("feature",))
class FeatureCooccurrence(Detector):
    needs = "the training set"
    threshold = 200.0

    def __init__(self, bins: int = 20, min_count: int = 10, min_class_size: int = 20) -> None:
        if bins < 2 or min_count < 1:
            raise ValueError(f"expected bins >= 2 and min_count >= 1, got {bins}, {min_count}")
        self.bins, self.min_count, self.min_class_size = int(bins), int(min_count), int(min_class_size)

    def _detect(self, model, ctx):
        x, y = ctx.train
        codes = feature_codes(x.cpu(), self.bins)
        n_feat, b = codes.shape[1], self.bins
        same = torch.block_diag(*[torch.ones(b, b, dtype=torch.bool)] * n_feat)  # pairs of one feature
        best = (-math.inf, None, None)
        per_class = []
        for c in range(ctx.num_classes):
            idx = (y.cpu() == c).nonzero().flatten()
            if idx.numel() < self.min_class_size:
                per_class.append(None)
                continue
            z = F.one_hot(codes[idx] + torch.arange(n_feat) * b, n_feat * b).sum(1).double()  # n_c × (D·bins)
            observed, marginal = z.T @ z, z.sum(0)
            expected = torch.outer(marginal, marginal) / idx.numel()
            ratio = observed * torch.log(observed.clamp_min(1e-12) / expected.clamp_min(1e-12)) - (observed - expected)
            ratio = ratio.masked_fill(same | (observed < self.min_count) | (observed <= expected), -math.inf)
            cell = int(ratio.argmax())
            value = float(ratio.view(-1)[cell])
            per_class.append(value if math.isfinite(value) else None)
            if value > best[0]:
                best = (value, c, divmod(cell, n_feat * b), idx)
        if best[1] is None:
            return 0.0, None, {"per_class": per_class}
        value, c, (u, v), idx = best
        (j, a), (k, bb) = divmod(u, b), divmod(v, b)
        flagged = idx[(codes[idx, j] == a) & (codes[idx, k] == bb)]
        return value, c, {"per_class": per_class, "pair": [j, k], "codes": [a, bb], "n_flagged": int(flagged.numel()),
                          **precision_recall(flagged, ctx.poisoned_indices)}
