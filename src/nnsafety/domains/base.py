"""The ``Domain`` interface: what an input is and what a valid change to it is.

Every analysis that perturbs inputs (attacks, noise response, corruptions, triggers, detectors)
asks the domain instead of assuming pixels:
- ``check(x)`` raises a one-line ``ValueError`` unless ``x`` is a batch of this domain;
- ``project(x, x0, mutable=None)`` maps a proposed batch to the nearest valid change of the
  originals ``x0`` (``mutable``: optional per-position mask of what may change at all);
- ``is_valid(x, x0, mutable=None)`` says per sample whether ``x`` is such a change;
- ``distance(x, x0)`` measures the change per sample in the domain's own unit;
- ``noise_families`` names the random perturbation families that make sense for the domain
  (the noise-response registry holds their code, tagged with the domains they support).

The projection is idempotent and a valid input is its fixed point (tested with hypothesis); an
attack that ends with ``project`` therefore never returns an input its domain forbids.
"""
from __future__ import annotations

from typing import Callable, Dict, List, Optional, Tuple

import torch

from .._registry import Registry

DOMAINS: Registry[Callable[..., "Domain"]] = Registry("domain")
register_domain = DOMAINS.register_named


class Domain:
    """Base class; subclasses set ``name``/``noise_families`` and implement the four methods."""

    name = "domain"
    noise_families: Tuple[str, ...] = ()

    def check(self, x: torch.Tensor, name: str = "x") -> None:
        raise NotImplementedError

    def project(self, x: torch.Tensor, x0: torch.Tensor, mutable: Optional[torch.Tensor] = None) -> torch.Tensor:
        raise NotImplementedError

    def is_valid(self, x: torch.Tensor, x0: torch.Tensor, mutable: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Per-sample bool: ``x`` is a valid change of ``x0`` (it equals its own projection)."""
        self.check(x)
        return _rows_equal(self.project(x, x0, mutable), x)

    def distance(self, x: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def config(self) -> Dict:
        """JSON description that rebuilds the domain with ``create_domain``."""
        return {"name": self.name}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "name")
        return f"{type(self).__name__}({args})"


def _rows_equal(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a == b).reshape(a.shape[0], -1).all(dim=1)


def keep_immutable(x: torch.Tensor, x0: torch.Tensor, mutable: Optional[torch.Tensor]) -> torch.Tensor:
    """``x`` where ``mutable`` is true, ``x0`` elsewhere (``mutable`` broadcasts against ``x``)."""
    if mutable is None:
        return x
    return torch.where(mutable.to(torch.bool), x, x0)


def check_same_shape(x: torch.Tensor, x0: torch.Tensor) -> None:
    if x.shape != x0.shape:
        raise ValueError(f"expected x and x0 of the same shape, got {tuple(x.shape)} and {tuple(x0.shape)}")


def require_domain(domain: Optional["Domain"], supported, what: str) -> "Domain":
    """``domain`` (default: images) if the registered unit ``what`` supports it, else one line:
    ``ValueError: corruption 'fog' supports image inputs, got a token domain``."""
    if domain is None:
        from .image import ImageDomain

        domain = ImageDomain()
    if domain.name not in supported:
        raise ValueError(f"{what} supports {', '.join(supported)} inputs, got a {domain.name} domain")
    return domain


def create_domain(name: str, **kwargs) -> "Domain":
    """Build a registered domain: ``create_domain("token", vocab_size=20000, max_edits=0.2)``."""
    return DOMAINS.create(name, "setting", **kwargs)


def list_domains() -> List[str]:
    return DOMAINS.names()
