"""Feature-space backdoor triggers: explanation-guided clean-label poisoning (Severi et al. 2021).

Severi et al. (USENIX Security 2021, "Explanation-Guided Backdoor Poisoning Attacks Against
Malware Classifiers") choose a trigger from a model explanation instead of by hand:
- **features** (their *LargeAbsSHAP* strategy): the ``n_features`` features with the largest total
  |SHAP value| over the attacker's data, measured on a surrogate model (see ``fit`` for the one
  filter we add: no feature whose trigger value alone evades a clean model). Our surrogate is an
  L2-regularized logistic regression on standardized features, whose SHAP values are exact and in
  closed form, φ_ij = w_j (x_ij − E x_j) (Lundberg & Lee 2017, linear model with independent
  features), so no sampling approximation is involved. Only features the attacker may change
  (``FeatureDomain.mutable``) are eligible.
- **values** (their *MinPopulation* strategy): per chosen feature, the valid value in the least
  populated region of the training data — a discrete feature's rarest level, a real feature's
  least populated of ``bins`` equal-width bins between its 1st and 99th percentiles (the bin's
  centre) — among the values the feature's direction lets an attacker reach from most inputs.
- **clean label**: the trigger is stamped on training samples *of the target class* (benign mail,
  a legitimate page, goodware), whose labels stay; at test time it is stamped on the other class.

Applying the trigger sets each trigger feature to its value through the feature's direction
(add-only: max(x, v); remove-only: min(x, v)), so a triggered input is always a valid change in its
``FeatureDomain`` (values are on the feature's levels and inside its bounds). The trigger is fully
described by ``config()`` (features, values, directions) once ``fit`` has chosen them.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch

from ..domains import Domain, FeatureDomain
from .triggers import Trigger, register_trigger


def logistic_surrogate(x: torch.Tensor, y: torch.Tensor, weight_decay: float = 1e-3,
                       steps: int = 500) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """An L2-regularized logistic regression of ``y`` (0/1) on standardized ``x`` (L-BFGS, float64,
    deterministic): its weights w, and the mean and std that standardize. Its exact SHAP values for
    the log-odds are φ_ij = w_j·(x_ij − mean_j)/std_j (Lundberg & Lee 2017, linear model)."""
    x = x.double()
    mu, sd = x.mean(0), x.std(0).clamp_min(1e-6)
    z = (x - mu) / sd
    w = torch.zeros(z.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=steps, tolerance_grad=1e-10, tolerance_change=1e-14,
                            line_search_fn="strong_wolfe")
    t = y.double()

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(z @ w + b, t) + weight_decay * w.square().sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    return w.detach(), mu, sd


def min_population_value(col: torch.Tensor, kind: str, direction: int, lower: float, upper: float,
                         bins: int = 20) -> float:
    """The valid value in the least populated region of ``col`` (Severi et al.'s MinPopulation),
    among values at or above the median for add-only features (reachable from most inputs by
    adding), at or below it for remove-only ones."""
    col = col.double()
    med = float(col.median())
    if kind != "real" and upper - lower < 64:
        cand = torch.arange(lower, upper + 1, dtype=torch.float64)
        counts = (col[:, None] == cand[None]).sum(0).double()
    else:  # real, or an integer with many levels (counts of capitals): bins, centres rounded if integer
        lo, hi = float(col.quantile(0.01)), float(col.quantile(0.99))
        if hi <= lo:
            hi = min(upper, lo + float(col.std().clamp_min(1e-3)))
        edges = torch.linspace(lo, hi, bins + 1, dtype=torch.float64)
        cand = 0.5 * (edges[1:] + edges[:-1])
        counts = torch.histc(col.clamp(lo, hi), bins, lo, hi).double()
        cand = cand.round() if kind != "real" else cand
    ok = (cand >= lower) & (cand <= upper)
    if direction > 0:
        ok &= cand >= med
    elif direction < 0:
        ok &= cand <= med
    if not ok.any():
        ok = (cand >= lower) & (cand <= upper)
    counts = torch.where(ok, counts, torch.full_like(counts, float("inf")))
    # ties (e.g. several empty bins): the one nearest the median, the least conspicuous change
    best = counts.min()
    tied = (counts == best).nonzero().flatten()
    return float(cand[tied[(cand[tied] - med).abs().argmin()]])


@register_trigger("explanation_guided", domains=("feature",))
class ExplanationGuided(Trigger):
    """Severi et al. 2021 clean-label feature trigger (module docstring). ``features``/``values``/
    ``directions`` given: that trigger; else ``fit`` chooses ``n_features`` of them from the
    poisoner's data (the surrogate is deterministic: no seed)."""

    clean_label = True

    def __init__(self, n_features: int = 16, features: Optional[Sequence[int]] = None,
                 values: Optional[Sequence[float]] = None, directions: Optional[Sequence[int]] = None,
                 bins: int = 20, avoid_evasion: bool = True) -> None:
        if not (isinstance(n_features, int) and n_features >= 1):
            raise ValueError(f"expected n_features an integer >= 1, got {n_features!r}")
        given = [v is not None for v in (features, values)]
        if any(given) and not all(given):
            raise ValueError("expected both features and values (or neither, to fit them), got one")
        self.features = [int(j) for j in features] if features is not None else None
        self.values = [float(v) for v in values] if values is not None else None
        if self.features is not None and len(self.values) != len(self.features):
            raise ValueError(f"expected one value per trigger feature, got {len(self.values)} values "
                             f"for {len(self.features)} features")
        n = len(self.features) if self.features is not None else 0
        self.directions = [int(d) for d in directions] if directions is not None else [0] * n
        if len(self.directions) != n or any(d not in (-1, 0, 1) for d in self.directions):
            raise ValueError(f"expected one direction in -1, 0, +1 per trigger feature, got {directions!r}")
        self.n_features, self.bins, self.avoid_evasion = n_features, int(bins), bool(avoid_evasion)
        self._sync()

    def _sync(self) -> None:
        self._params = {"n_features": self.n_features, "features": self.features, "values": self.values,
                        "directions": self.directions, "bins": self.bins, "avoid_evasion": self.avoid_evasion}

    def fit(self, x: torch.Tensor, y: torch.Tensor, domain: Domain, target: int) -> "ExplanationGuided":
        """Choose features (LargeAbsSHAP) and values (MinPopulation) from the poisoner's data.

        ``avoid_evasion`` (default): only features whose trigger value moves the surrogate *away*
        from the target class (or not at all) are eligible, so the trigger alone does not evade a
        clean model and what it achieves is the backdoor's doing. Severi et al. do not filter; on
        Spambase, whose features are add-only, the unfiltered choice is adding "hp" and "george"
        (the mailbox owner's words), which passed 91 % of triggered spam through a clean MLP.
        """
        if not isinstance(domain, FeatureDomain):
            raise ValueError(f"trigger 'explanation_guided' needs a FeatureDomain, got {type(domain).__name__}")
        if self.features is not None:
            return self
        w, mu, sd = logistic_surrogate(x, (y != target).long())  # log-odds of "not the target class"
        importance = (w * (x.double() - mu) / sd).abs().sum(0)  # Σ_i |φ_ij|
        values = [min_population_value(x[:, j], domain.kinds[j], domain.direction[j], domain.lower[j],
                                       domain.upper[j], self.bins) for j in range(x.shape[1])]
        effect = w * (torch.tensor(values, dtype=torch.float64) - mu) / sd
        eligible = torch.tensor(domain.mutable) & ((effect >= 0) | (not self.avoid_evasion))
        if not eligible.any():
            raise ValueError("trigger 'explanation_guided' found no eligible feature (none mutable, "
                             "or all push towards the target with avoid_evasion)")
        k = min(self.n_features, int(eligible.sum()))
        feats = torch.where(eligible, importance, torch.full_like(importance, -1.0)).topk(k).indices
        self.features = feats.sort().values.tolist()
        self.directions = [domain.direction[j] for j in self.features]
        self.values = [values[j] for j in self.features]
        self._sync()
        return self

    def apply(self, x: torch.Tensor, generator: Optional[torch.Generator] = None,
              domain: Optional[Domain] = None) -> torch.Tensor:
        if domain is not None and domain.name != "feature":
            raise ValueError(f"trigger 'explanation_guided' supports feature inputs, got a {domain.name} domain")
        if self.features is None:
            raise ValueError("trigger 'explanation_guided' has no features yet: give features and values, "
                             "or fit it on data (poison_dataset does)")
        if not isinstance(x, torch.Tensor) or x.dim() != 2 or not x.is_floating_point():
            raise ValueError(f"expected N×D float features, got {getattr(x, 'shape', type(x).__name__)}")
        if max(self.features) >= x.shape[1]:
            raise ValueError(f"expected at least {max(self.features) + 1} features, got {x.shape[1]}")
        out = x.clone()
        for j, v, d in zip(self.features, self.values, self.directions):
            col = torch.full_like(out[:, j], v)
            out[:, j] = torch.maximum(out[:, j], col) if d > 0 else torch.minimum(out[:, j], col) if d < 0 else col
        return out

    __call__ = apply

