"""Backdoor triggers: registered, batched tensor ops on N×C×H×W images in [0, 1].

Each trigger is a small class whose constructor stores and validates its parameters (published
defaults as keyword defaults) and whose ``apply(x, generator=None)`` returns the triggered batch,
clamped to [0, 1]. Patterns that are "random" are drawn from their own ``pattern_seed``, so a
trigger is fully described by ``config()`` (JSON) and rebuilt identically by ``create_trigger``.

A pure data operation: it imports nothing from nnsafety but the registry and validation, so the
trainer (which poisons data through it) never depends on ``backdoor/`` above it.
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

from .._registry import Registry
from .._validation import check_images
from ..domains import Domain, require_domain

TRIGGERS: Registry[type] = Registry("trigger")


register_trigger = TRIGGERS.register_named


class Trigger:
    """Base class: parameters in ``__init__``, the image op in ``_apply``; ``apply`` owns checks.

    ``clean_label`` is the attack's own default poisoning mode (SIG poisons target-class samples
    without changing labels); ``noise_ratio`` > 0 asks the poisoner for that many extra samples
    (as a multiple of the poisoned count) passed through ``apply_noise`` with labels kept (WaNet).
    """

    name = "trigger"
    clean_label = False
    noise_ratio = 0.0

    def apply(self, x: torch.Tensor, generator: Optional[torch.Generator] = None,
              domain: Optional[Domain] = None) -> torch.Tensor:
        require_domain(domain, self.domains, f"trigger {self.name!r}")
        check_images(x, allow_2d=False)
        return self._apply(x, generator).clamp(0.0, 1.0)

    __call__ = apply

    def _apply(self, x: torch.Tensor, generator: Optional[torch.Generator]) -> torch.Tensor:
        raise NotImplementedError

    def apply_noise(self, x: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """The label-keeping 'noise mode' variant; identity for triggers that define none."""
        return x

    def config(self) -> Dict[str, Any]:
        """JSON-ready parameters: ``create_trigger(cfg["name"], **cfg["params"])`` rebuilds it."""
        return {"name": self.name, "params": dict(self._params)}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._params.items())
        return f"{type(self).__name__}({args})"


def _seeded_pattern(shape: Sequence[int], seed: int, like: torch.Tensor) -> torch.Tensor:
    """A C×H×W uniform [0, 1] pattern from its own seed (independent of any caller generator)."""
    g = torch.Generator().manual_seed(int(seed))
    return torch.rand(tuple(shape), generator=g).to(device=like.device, dtype=like.dtype)


@register_trigger("badnets")
class BadNets(Trigger):
    """BadNets patch (Gu et al. 2017): a ``size``×``size`` pixel patch pasted at a corner.

    ``position``: "bottom_right" | "bottom_left" | "top_right" | "top_left" or [row, col] of the
    patch's top-left pixel. ``pattern``: "checkerboard" (1 on even (i+j), 0 elsewhere), "white" or
    "random" (uniform [0, 1] from ``pattern_seed``). The original uses a 3×3 patch in the corner.
    """

    PATTERNS = ("checkerboard", "white", "random")
    CORNERS = ("bottom_right", "bottom_left", "top_right", "top_left")

    def __init__(self, size: int = 3, position: Any = "bottom_right", pattern: str = "checkerboard",
                 pattern_seed: int = 0) -> None:
        if not (isinstance(size, int) and size >= 1):
            raise ValueError(f"expected badnets size a positive integer (pixels), got {size!r}")
        if pattern not in self.PATTERNS:
            raise ValueError(f"expected badnets pattern one of {', '.join(self.PATTERNS)}, got {pattern!r}")
        if isinstance(position, (list, tuple)):
            if len(position) != 2 or not all(isinstance(p, int) and p >= 0 for p in position):
                raise ValueError(f"expected badnets position [row, col] of non-negative ints, got {position!r}")
            position = [int(p) for p in position]
        elif position not in self.CORNERS:
            raise ValueError(f"expected badnets position one of {', '.join(self.CORNERS)} or [row, col], "
                             f"got {position!r}")
        self.size, self.position, self.pattern, self.pattern_seed = size, position, pattern, int(pattern_seed)
        self._params = {"size": size, "position": position, "pattern": pattern, "pattern_seed": self.pattern_seed}

    def region(self, height: int, width: int) -> Tuple[slice, slice]:
        """The (rows, cols) slices of the patch in an image of ``height``×``width``."""
        s = self.size
        if s > min(height, width):
            raise ValueError(f"expected a badnets patch of at most {min(height, width)} px, got {s}")
        if isinstance(self.position, list):
            r, c = self.position
            if r + s > height or c + s > width:
                raise ValueError(f"badnets patch at {self.position} of size {s} leaves the {height}×{width} image")
        else:
            r = height - s if self.position.startswith("bottom") else 0
            c = width - s if self.position.endswith("right") else 0
        return slice(r, r + s), slice(c, c + s)

    def patch(self, channels: int, like: torch.Tensor) -> torch.Tensor:
        s = self.size
        if self.pattern == "white":
            return torch.ones(channels, s, s, dtype=like.dtype, device=like.device)
        if self.pattern == "checkerboard":
            ij = torch.arange(s).view(-1, 1) + torch.arange(s).view(1, -1)
            return ((ij % 2) == 0).to(like.dtype).to(like.device).expand(channels, s, s)
        return _seeded_pattern((channels, s, s), self.pattern_seed, like)

    def _apply(self, x, generator):
        rows, cols = self.region(x.shape[2], x.shape[3])
        out = x.clone()
        out[:, :, rows, cols] = self.patch(x.shape[1], x)
        return out


@register_trigger("blended")
class Blended(Trigger):
    """Blended injection (Chen et al. 2017): x' = (1 − α)·x + α·p, p a full-size pattern.

    ``pattern``: "random" (uniform [0, 1] noise from ``pattern_seed``) or a nested list / tensor
    of shape C×H×W or H×W in [0, 1] (an image). α = 0.2 is the paper's training blend ratio.
    """

    def __init__(self, alpha: float = 0.2, pattern: Any = "random", pattern_seed: int = 0) -> None:
        if not (isinstance(alpha, (int, float)) and 0 < alpha <= 1):
            raise ValueError(f"expected blended alpha in (0, 1], got {alpha!r}")
        self.alpha, self.pattern_seed = float(alpha), int(pattern_seed)
        if isinstance(pattern, str):
            if pattern != "random":
                raise ValueError(f"expected blended pattern 'random' or an image, got {pattern!r}")
            self.image = None
        else:
            img = torch.as_tensor(pattern, dtype=torch.float32)
            if img.dim() == 2:
                img = img.unsqueeze(0)
            if img.dim() != 3 or img.min() < 0 or img.max() > 1:
                raise ValueError(f"expected a blended pattern image C×H×W or H×W in [0, 1], got shape {tuple(img.shape)}")
            self.image = img
        self._params = {"alpha": self.alpha, "pattern": "random" if self.image is None else self.image.tolist(),
                        "pattern_seed": self.pattern_seed}

    def pattern_for(self, x: torch.Tensor) -> torch.Tensor:
        if self.image is None:
            return _seeded_pattern(x.shape[1:], self.pattern_seed, x)
        img = self.image.to(device=x.device, dtype=x.dtype)
        if img.shape[1:] != x.shape[2:]:
            img = F.interpolate(img[None], size=x.shape[2:], mode="bilinear", align_corners=False)[0]
        return img.expand(x.shape[1], -1, -1) if img.shape[0] == 1 else img

    def _apply(self, x, generator):
        return (1 - self.alpha) * x + self.alpha * self.pattern_for(x)


@register_trigger("sig")
class SIG(Trigger):
    """Sinusoidal signal (Barni et al. 2019): x' = x + Δ·sin(2π·j·f / W) on column j, clean-label.

    ``delta`` in pixel units (the paper's Δ = 20 on a 0–255 scale → 20/255), ``frequency`` f = 6
    periods across the image width W (beware aliasing on tiny images: f = W/2 samples the sine at its
    zeros and adds nothing; on 8-px digits f = 6 gives +Δ on columns 3 and 7). The attack's default mode poisons target-class samples only
    and keeps their labels.
    """

    clean_label = True

    def __init__(self, delta: float = 20 / 255, frequency: float = 6.0) -> None:
        if not (isinstance(delta, (int, float)) and 0 < delta <= 1):
            raise ValueError(f"expected sig delta in (0, 1] (pixel units), got {delta!r}")
        if not (isinstance(frequency, (int, float)) and frequency > 0):
            raise ValueError(f"expected sig frequency > 0 (periods per image width), got {frequency!r}")
        self.delta, self.frequency = float(delta), float(frequency)
        self._params = {"delta": self.delta, "frequency": self.frequency}

    def signal(self, width: int, like: torch.Tensor) -> torch.Tensor:
        j = torch.arange(width, dtype=torch.float64)
        return (self.delta * torch.sin(2 * math.pi * j * self.frequency / width)).to(like.dtype).to(like.device)

    def _apply(self, x, generator):
        return x + self.signal(x.shape[3], x).view(1, 1, 1, -1)


@register_trigger("wanet")
class WaNet(Trigger):
    """Warping trigger (Nguyen & Tran 2021): x' = grid_sample(x, id + s·U(P)/H), clamped to [-1, 1].

    P is a k×k×2 uniform [−1, 1] field (from ``field_seed``) divided by its mean |P|, U upsamples it
    bicubically to H×W; coordinates are normalized to [−1, 1] (align_corners=True), so the mean
    displacement is about s·(H−1)/(2H) ≈ s/2 pixels at any resolution. The paper's k = 4, s = 0.5
    are tuned for 32×32 images, where a half-pixel warp is learnable from 50k samples; on 8×8 digits
    (1347 samples, k = 4 ≈ one control point per 2 px) the zoo uses s ∈ [1.5, 3] so the warp is
    1–1.5 px (measured: s = 0.5 does not implant there). Noise mode: ``noise_ratio`` (the paper's
    cross ratio 2) × the poisoned count get id + s·U(P)/H + U(−1, 1)/H, labels kept.
    """

    noise_ratio = 2.0

    def __init__(self, k: int = 4, s: float = 0.5, field_seed: int = 0, noise_ratio: float = 2.0) -> None:
        if not (isinstance(k, int) and k >= 2):
            raise ValueError(f"expected wanet k an integer >= 2 (control grid size), got {k!r}")
        if not (isinstance(s, (int, float)) and s >= 0):
            raise ValueError(f"expected wanet s >= 0 (warp strength), got {s!r}")
        if not (isinstance(noise_ratio, (int, float)) and noise_ratio >= 0):
            raise ValueError(f"expected wanet noise_ratio >= 0, got {noise_ratio!r}")
        self.k, self.s, self.field_seed, self.noise_ratio = k, float(s), int(field_seed), float(noise_ratio)
        self._params = {"k": k, "s": self.s, "field_seed": self.field_seed, "noise_ratio": self.noise_ratio}

    def _identity(self, h: int, w: int, like: torch.Tensor) -> torch.Tensor:
        ys = torch.linspace(-1, 1, h, dtype=like.dtype, device=like.device)
        xs = torch.linspace(-1, 1, w, dtype=like.dtype, device=like.device)
        gy, gx = torch.meshgrid(ys, xs, indexing="ij")
        return torch.stack((gx, gy), dim=-1).unsqueeze(0)  # grid_sample wants (x, y) order

    def field(self, h: int, w: int, like: torch.Tensor) -> torch.Tensor:
        """The upsampled, mean-|.|-normalized warp field U(P), 1×H×W×2 (no strength applied)."""
        g = torch.Generator().manual_seed(self.field_seed)
        p = torch.rand(1, 2, self.k, self.k, generator=g, dtype=torch.float64) * 2 - 1
        p = p / p.abs().mean()
        up = F.interpolate(p, size=(h, w), mode="bicubic", align_corners=True)
        return up.permute(0, 2, 3, 1).to(device=like.device, dtype=like.dtype)

    def grid(self, h: int, w: int, like: torch.Tensor) -> torch.Tensor:
        return (self._identity(h, w, like) + self.s * self.field(h, w, like) / h).clamp(-1, 1)

    def _warp(self, x: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
        return F.grid_sample(x, grid.expand(x.shape[0], -1, -1, -1), mode="bilinear",
                             padding_mode="zeros", align_corners=True)

    def _apply(self, x, generator):
        return self._warp(x, self.grid(x.shape[2], x.shape[3], x))

    def apply_noise(self, x, generator=None):
        check_images(x, allow_2d=False)
        h, w = x.shape[2], x.shape[3]
        jitter = torch.rand((x.shape[0], h, w, 2), generator=generator, dtype=torch.float32).to(x)
        grid = (self.grid(h, w, x) + (jitter * 2 - 1) / h).clamp(-1, 1)
        return self._warp(x, grid).clamp(0.0, 1.0)


def create_trigger(name: str, **params) -> Trigger:
    """Build a registered trigger; unknown names list the known ones, unknown parameters too."""
    return TRIGGERS.create(name, "parameter", **params)


def apply_trigger(x: torch.Tensor, name: str, generator: Optional[torch.Generator] = None, **params) -> torch.Tensor:
    """Functional form: ``apply_trigger(x, "badnets", size=2)``."""
    return create_trigger(name, **params).apply(x, generator)


def list_triggers(domain: Optional[str] = None) -> List[str]:
    """Registered triggers; with ``domain`` (e.g. "image", "token"), those that support it."""
    return TRIGGERS.names(domain)
