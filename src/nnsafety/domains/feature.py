"""``FeatureDomain``: tabular feature vectors N×D with per-feature constraints.

What an attacker of a security classifier can really change (Spambase word frequencies, phishing
page features): each feature has bounds, a kind (``real``, ``integer``, ``binary``), may be
immutable, and may only grow (add-only: one can add words or links to a page, not remove the
original ones) or only shrink. The projection enforces all of them at once, in an order that keeps
each enforced: immutables restored, direction, bounds, then integer/binary rounding inside the
bounds (rounding an add-only integer feature never drops it below its integer original).
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
                 names: Optional[Sequence[str]] = None, norm: str = "L2") -> None:
        d = len(lower)
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
        self.norm = norm

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

    def distance(self, x: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
        check_same_shape(x, x0)
        return flat_distance(x - x0, self.norm)

    def config(self):
        return {"name": self.name, "lower": self.lower, "upper": self.upper, "kinds": self.kinds,
                "mutable": self.mutable, "direction": self.direction, "names": self.names, "norm": self.norm}
