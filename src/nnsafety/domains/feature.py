"""``FeatureDomain``: tabular feature vectors N×D with per-feature constraints.

What an attacker of a security classifier can really change (Spambase word frequencies, phishing
page features): each feature has bounds, a kind (``real``, ``integer``, ``binary``), may be
immutable, and may only grow (add-only: one can add words or links to a page, not remove the
original ones) or only shrink. The projection enforces all of them at once, in an order that keeps
each enforced: immutables restored, direction, bounds, then integer/binary rounding inside the
bounds (rounding an add-only integer feature never drops it below its integer original).

``scale`` is the per-feature unit of an attack budget ε and of ``distance`` (default 1: feature
units; the security datasets pass their training split's standard deviations, so ε = 0.5 allows
half a standard deviation on every feature). ``project_ball`` is the projection the attacks use:
the ε-ball in those units, then the domain, with integer/binary features held to the whole levels
inside the ball so that rounding never leaves it.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import torch

from .base import Domain, check_same_shape, keep_immutable, register_domain
from .image import NORMS, flat_distance

KINDS = ("real", "integer", "binary")


@register_domain("feature")
class FeatureDomain(Domain):
    """Per-feature ``lower``/``upper`` bounds, ``kinds``, ``mutable`` flags and ``direction``
    (0 either way, +1 add-only, −1 remove-only); ``norm`` is the distance (L∞, L2 or L0)."""

    noise_families = ("gaussian", "uniform")

    def __init__(self, lower: Sequence[float], upper: Sequence[float], kinds: Optional[Sequence[str]] = None,
                 mutable: Optional[Sequence[bool]] = None, direction: Optional[Sequence[int]] = None,
                 names: Optional[Sequence[str]] = None, norm: str = "L2",
                 scale: Optional[Sequence[float]] = None) -> None:
        d = len(lower)
        scale = [float(v) for v in scale] if scale is not None else [1.0] * d
        if len(scale) != d or not all(v > 0 and math.isfinite(v) for v in scale):
            raise ValueError(f"expected scale with {d} positive finite entries (one per feature), got {scale[:4]}...")
        kinds = list(kinds) if kinds is not None else ["real"] * d
        mutable = list(mutable) if mutable is not None else [True] * d
        direction = list(direction) if direction is not None else [0] * d
        for what, seq in (("upper", upper), ("kinds", kinds), ("mutable", mutable), ("direction", direction)):
            if len(seq) != d:
                raise ValueError(f"expected {what} with {d} entries (one per feature), got {len(seq)}")
        bad = [k for k in kinds if k not in KINDS]
        if bad:
            raise ValueError(f"expected feature kinds in {', '.join(KINDS)}, got {bad[0]!r}")
        if any(v not in (-1, 0, 1) for v in direction):
            raise ValueError(f"expected directions in -1, 0, +1, got {sorted(set(direction))}")
        if norm not in NORMS:
            raise ValueError(f"expected norm one of {', '.join(NORMS)}, got {norm!r}")
        lo = [0.0 if k == "binary" else float(a) for a, k in zip(lower, kinds)]
        hi = [1.0 if k == "binary" else float(b) for b, k in zip(upper, kinds)]
        lo = [math.ceil(a) if k == "integer" else a for a, k in zip(lo, kinds)]
        hi = [math.floor(b) if k == "integer" else b for b, k in zip(hi, kinds)]
        if any(not (a <= b) for a, b in zip(lo, hi)):
            raise ValueError("expected lower <= upper for every feature (integer bounds rounded inwards)")
        self.lower, self.upper, self.kinds = lo, hi, kinds
        self.mutable, self.direction = [bool(m) for m in mutable], [int(v) for v in direction]
        self.names = list(names) if names is not None else [f"f{i}" for i in range(d)]
        self.norm, self.scale = norm, scale

    @property
    def dim(self) -> int:
        return len(self.lower)

    def _t(self, values, like: torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(values, dtype=like.dtype, device=like.device)

    def check(self, x: torch.Tensor, name: str = "x") -> None:
        if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.dim() != 2 or x.shape[1] != self.dim:
            got = f"{x.dtype} of shape {tuple(x.shape)}" if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"expected {name} to be a float tensor of shape N×{self.dim}, got {got}")
        if x.numel() and not torch.isfinite(x).all():
            raise ValueError(f"expected finite {name}, got NaN or inf")

    def project(self, x: torch.Tensor, x0: torch.Tensor, mutable: Optional[torch.Tensor] = None) -> torch.Tensor:
        check_same_shape(x, x0)
        allowed = self._t(self.mutable, x).bool()
        if mutable is not None:
            allowed = allowed & mutable.to(torch.bool)
        out = keep_immutable(x, x0, allowed)
        direction = self._t(self.direction, x)
        out = torch.where(direction > 0, torch.maximum(out, x0), out)
        out = torch.where(direction < 0, torch.minimum(out, x0), out)
        out = torch.maximum(torch.minimum(out, self._t(self.upper, x)), self._t(self.lower, x))
        discrete = self._t([k != "real" for k in self.kinds], x).bool()
        rounded = torch.maximum(torch.minimum(torch.round(out), self._t(self.upper, x)), self._t(self.lower, x))
        out = torch.where(discrete, rounded, out)
        return torch.where(allowed, out, x0)

    def relaxed(self) -> "FeatureDomain":
        """The same constraints with every feature real: where an attack's continuous iterate lives
        (small steps on an integer feature must accumulate instead of being rounded away)."""
        if all(k == "real" for k in self.kinds):
            return self
        return FeatureDomain(self.lower, self.upper, None, self.mutable, self.direction, self.names, self.norm,
                             self.scale)

    def unit(self, like: torch.Tensor) -> torch.Tensor:
        """``scale`` as a 1×D tensor on ``like``'s device and dtype."""
        return self._t(self.scale, like)[None]

    def project_ball(self, x: torch.Tensor, x0: torch.Tensor, eps, norm: str) -> torch.Tensor:
        """Onto {‖(x − x0)/scale‖ ≤ ε} ∩ the valid changes of ``x0``; ``eps`` a float or one per
        sample, ``norm`` "Linf" or "L2". L∞: integer/binary features are first clipped to the whole
        levels inside [x0 − ε·scale, x0 + ε·scale], so rounding stays in the ball. L2: a row whose
        rounding leaves the ball rounds its discrete features towards ``x0`` instead (never longer)."""
        check_same_shape(x, x0)
        e = torch.as_tensor(eps, dtype=x.dtype, device=x.device).reshape(-1, 1)
        s = self.unit(x)
        discrete = self._t([k != "real" for k in self.kinds], x).bool()
        if norm == "Linf":
            r = e * s
            lo = torch.where(discrete, torch.ceil(x0 - r), x0 - r)
            hi = torch.where(discrete, torch.floor(x0 + r), x0 + r)
            p = self.project(torch.maximum(torch.minimum(x, hi), lo), x0)
            return torch.where((p - x0).abs() <= r, p, x0)  # float slack of x0 ± r only
        if norm != "L2":
            raise ValueError(f"expected norm 'Linf' or 'L2' for a feature-space ball, got {norm!r}")
        d = (x - x0) / s
        n = d.norm(dim=1, keepdim=True)
        q = x0 + d * torch.clamp(e * (1 - 1e-6) / (n + 1e-12), max=1.0) * s
        p = self.project(q, x0)
        out = self.relaxed().project(q, x0)
        towards = x0 + torch.trunc(out - x0)  # discrete x0 sit on levels: truncation stays on levels
        out = torch.where(discrete, towards, out)
        long = ((p - x0) / s).norm(dim=1, keepdim=True) > e
        return torch.where(long, out, p)

    def distance(self, x: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
        """The change per sample in ``norm``, measured in units of ``scale``."""
        check_same_shape(x, x0)
        return flat_distance((x - x0) / self.unit(x), self.norm)

    def config(self):
        return {"name": self.name, "lower": self.lower, "upper": self.upper, "kinds": self.kinds,
                "mutable": self.mutable, "direction": self.direction, "names": self.names, "norm": self.norm,
                "scale": self.scale}
