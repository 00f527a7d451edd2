"""Random draws from an explicit ``torch.Generator``, placed on the data's device.

Every draw comes from the caller's generator, so the same seed gives the same result. Numbers are
drawn where the generator lives and then moved, so a CPU generator serves a CUDA model and a CPU
seed gives the same perturbation on every device. Beta/Dirichlet have no generator argument in
torch, so they are drawn by NumPy from a seed that is itself drawn from the torch generator.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import torch


def make_generator(generator: Optional[torch.Generator] = None, seed: Optional[int] = None,
                   device: torch.device | str = "cpu", default_seed: Optional[int] = 0) -> Optional[torch.Generator]:
    """The caller's ``generator``; else a fresh one on ``device`` seeded with ``seed`` (or
    ``default_seed``); ``None`` (the global RNG) only when both seeds are None."""
    if generator is not None:
        return generator
    seed = default_seed if seed is None else seed
    if seed is None:
        return None
    if not 0 <= int(seed) < 2**63:
        raise ValueError(f"expected a seed in [0, 2**63), got {seed}")
    return torch.Generator(device=device).manual_seed(int(seed))


def _where(generator: Optional[torch.Generator], device) -> torch.device:
    return generator.device if generator is not None else torch.device(device)


def rand(shape: Sequence[int], generator: Optional[torch.Generator], device="cpu",
         dtype=torch.float32) -> torch.Tensor:
    """U[0, 1) of ``shape`` on ``device``."""
    return torch.rand(tuple(shape), generator=generator, device=_where(generator, device), dtype=dtype).to(device)


def randn(shape: Sequence[int], generator: Optional[torch.Generator], device="cpu",
          dtype=torch.float32) -> torch.Tensor:
    """N(0, 1) of ``shape`` on ``device``."""
    return torch.randn(tuple(shape), generator=generator, device=_where(generator, device), dtype=dtype).to(device)


def rand_like(x: torch.Tensor, generator: Optional[torch.Generator], kind: str = "uniform") -> torch.Tensor:
    """Uniform [0, 1) or standard normal noise shaped like ``x``, on x's device and dtype."""
    fn = rand if kind == "uniform" else randn
    return fn(x.shape, generator, x.device, x.dtype)


def randint(low: int, high: int, shape: Sequence[int], generator: Optional[torch.Generator],
            device="cpu") -> torch.Tensor:
    """Integers uniform in [low, high) of ``shape`` on ``device``."""
    return torch.randint(low, high, tuple(shape), generator=generator, device=_where(generator, device)).to(device)


def randperm(n: int, generator: Optional[torch.Generator], device="cpu") -> torch.Tensor:
    """A uniform permutation of range(n) on ``device``."""
    return torch.randperm(n, generator=generator, device=_where(generator, device)).to(device)


def numpy_rng(generator: Optional[torch.Generator]) -> np.random.Generator:
    """A NumPy generator seeded by one 63-bit draw of ``generator`` (for Beta/Dirichlet/Gamma)."""
    seed = int(torch.randint(0, 2**63 - 1, (1,), generator=generator, device=_where(generator, "cpu")))
    return np.random.default_rng(seed)


def beta(a: float, b: float, generator: Optional[torch.Generator], size=None):
    """Beta(a, b): a Python float when ``size`` is None, else a float32 CPU tensor of ``size``."""
    draw = numpy_rng(generator).beta(a, b, size=size)
    return float(draw) if size is None else torch.as_tensor(draw, dtype=torch.float32)


def dirichlet(alpha: Sequence[float], n: int, generator: Optional[torch.Generator]) -> torch.Tensor:
    """``n`` independent Dirichlet(alpha) vectors, float32 CPU tensor of shape n×len(alpha)."""
    return torch.as_tensor(numpy_rng(generator).dirichlet(list(alpha), size=n), dtype=torch.float32)
