"""Random draws from an explicit ``torch.Generator``, placed on the data's device.

Every draw comes from the caller's generator (usually the trainer's checkpointed CPU generator),
so same seed -> same augmentation and a resumed run is bit-exact. Numbers are drawn where the
generator lives and then moved, so a CPU seed gives the same augmentation on every device.
Beta/Dirichlet/Gamma have no generator argument in torch, so they are drawn by NumPy from a seed
that is itself drawn from the torch generator (deterministic, advances the generator once).
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import torch


def _gen_device(generator: Optional[torch.Generator], device) -> torch.device:
    return generator.device if generator is not None else torch.device(device)


def rand(shape: Sequence[int], generator: Optional[torch.Generator], device="cpu",
         dtype=torch.float32) -> torch.Tensor:
    """U[0, 1) of ``shape`` on ``device``."""
    out = torch.rand(tuple(shape), generator=generator, device=_gen_device(generator, device), dtype=dtype)
    return out.to(device)


def randn(shape: Sequence[int], generator: Optional[torch.Generator], device="cpu",
          dtype=torch.float32) -> torch.Tensor:
    """N(0, 1) of ``shape`` on ``device``."""
    out = torch.randn(tuple(shape), generator=generator, device=_gen_device(generator, device), dtype=dtype)
    return out.to(device)


def randint(low: int, high: int, shape: Sequence[int], generator: Optional[torch.Generator],
            device="cpu") -> torch.Tensor:
    """Integers uniform in [low, high) of ``shape`` on ``device``."""
    out = torch.randint(low, high, tuple(shape), generator=generator, device=_gen_device(generator, device))
    return out.to(device)


def randperm(n: int, generator: Optional[torch.Generator], device="cpu") -> torch.Tensor:
    """A uniform permutation of range(n) on ``device``."""
    return torch.randperm(n, generator=generator, device=_gen_device(generator, device)).to(device)


def numpy_rng(generator: Optional[torch.Generator]) -> np.random.Generator:
    """A NumPy generator seeded by one 63-bit draw of ``generator`` (for Beta/Dirichlet/Gamma)."""
    seed = int(torch.randint(0, 2**63 - 1, (1,), generator=generator, device=_gen_device(generator, "cpu")))
    return np.random.default_rng(seed)


def beta(a: float, b: float, generator: Optional[torch.Generator], size=None):
    """Beta(a, b): a Python float when ``size`` is None, else a float32 CPU tensor of ``size``."""
    draw = numpy_rng(generator).beta(a, b, size=size)
    return float(draw) if size is None else torch.as_tensor(draw, dtype=torch.float32)


def dirichlet(alpha: Sequence[float], n: int, generator: Optional[torch.Generator]) -> torch.Tensor:
    """``n`` independent Dirichlet(alpha) vectors, float32 CPU tensor of shape n×len(alpha)."""
    return torch.as_tensor(numpy_rng(generator).dirichlet(list(alpha), size=n), dtype=torch.float32)
