"""``ImageDomain``: float images in [0, 1], N×C×H×W (or N×D for 2-D toys and feature-free MLPs).

The project's original convention, made explicit: normalization belongs to the model, so every
attack, corruption and noise family acts in pixel space with one meaning of ε.
"""
from __future__ import annotations

from typing import Optional

import torch

from .._validation import check_images
from .base import Domain, check_same_shape, keep_immutable, register_domain

NORMS = ("Linf", "L2", "L0")


def flat_distance(d: torch.Tensor, norm: str) -> torch.Tensor:
    """Per-sample norm of a difference ``d`` (L0 counts changed entries)."""
    flat = d.reshape(d.shape[0], -1)
    if norm == "Linf":
        return flat.abs().amax(dim=1) if flat.shape[1] else flat.new_zeros(flat.shape[0])
    if norm == "L2":
        return flat.norm(dim=1)
    return (flat != 0).sum(dim=1).to(d.dtype if d.is_floating_point() else torch.float32)


@register_domain("image")
class ImageDomain(Domain):
    """Pixels in [low, high] (default [0, 1]); projection clamps, distance is ``norm`` (L∞)."""

    noise_families = ("gaussian", "uniform", "salt_and_pepper", "blur", "contrast")

    def __init__(self, norm: str = "Linf") -> None:
        if norm not in NORMS:
            raise ValueError(f"expected norm one of {', '.join(NORMS)}, got {norm!r}")
        self.norm = norm

    def check(self, x: torch.Tensor, name: str = "x") -> None:
        check_images(x, name)

    def project(self, x: torch.Tensor, x0: torch.Tensor, mutable: Optional[torch.Tensor] = None) -> torch.Tensor:
        check_same_shape(x, x0)
        return keep_immutable(x.clamp(0.0, 1.0), x0, mutable)

    def distance(self, x: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
        check_same_shape(x, x0)
        return flat_distance(x - x0, self.norm)

    def config(self):
        return {"name": self.name, "norm": self.norm}
