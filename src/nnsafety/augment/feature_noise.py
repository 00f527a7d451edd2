"""Additive and multiplicative feature noise of NFM (Lim et al., ICLR 2022) and NoisyMix.

h̃ = m ⊙ h + a with
  a = add_level · b₁ · ε,            ε ~ N(0, 1) elementwise, b₁ ~ Beta(2, 5) one scalar per call,
  m = 1 + mult_level · b₂ · (2u − 1), u ~ U(0, 1) elementwise,  b₂ ~ Beta(2, 5) one scalar per call,
and, for NoisyMix (Erichson et al. 2022, code ``src/noisy_mixup.py``), each element of a is set
to 0 and each element of m to 1 with probability ``sparse_level`` (independent masks).
Hence E[a] = 0, Var[a] = add_level²·E[b²]·(1−s), E[m] = 1, Var[m] = mult_level²·E[b²]·(1−s)/3,
with E[b²] = 3/28 for Beta(2, 5). Levels are in the units of h (normalized units at k = 0).

``relative=True`` scales a by each vector's root mean square, a_i ← a_i·rms(h_i) with
rms(h_i) = ‖h_i‖₂/√D over the last dimension (one word vector of an N×L×E embedding sequence, one
feature vector of N×D), detached: the levels are then fractions of the vector's own scale, as the
paper's levels are of its normalized (unit-variance) inputs, and padding (zero vectors) stays
noise-free. Word embeddings have no normalization layer; a U(−0.25, 0.25) embedding (Kim 2014)
has rms 0.14, so absolute levels of 0.5–1.5 swamp it.
"""
from __future__ import annotations

from typing import Optional

import torch

from .. import _random

BETA_A, BETA_B = 2.0, 5.0


def _check_levels(add_level: float, mult_level: float, sparse_level: float) -> None:
    if add_level < 0 or mult_level < 0 or not 0 <= sparse_level < 1:
        raise ValueError(
            f"expected add_level >= 0, mult_level >= 0 and sparse_level in [0, 1), "
            f"got {add_level}, {mult_level}, {sparse_level}"
        )


def feature_noise(h: torch.Tensor, add_level: float = 0.0, mult_level: float = 0.0,
                  sparse_level: float = 0.0, generator: Optional[torch.Generator] = None,
                  relative: bool = False) -> torch.Tensor:
    """m ⊙ h + a, the NFM/NoisyMix noise (see module docstring); returns h itself at zero levels.
    ``relative``: a in units of each vector's rms (module docstring)."""
    _check_levels(add_level, mult_level, sparse_level)
    out = h
    if mult_level > 0:
        scale = mult_level * _random.beta(BETA_A, BETA_B, generator)
        m = _random.rand(h.shape, generator, h.device, h.dtype).mul_(2).sub_(1).mul_(scale)
        if sparse_level > 0:
            m.masked_fill_(_random.rand(h.shape, generator, h.device, h.dtype) < sparse_level, 0.0)
        out = out * (m + 1)
    if add_level > 0:
        scale = add_level * _random.beta(BETA_A, BETA_B, generator)
        a = _random.randn(h.shape, generator, h.device, h.dtype).mul_(scale)
        if sparse_level > 0:
            a.masked_fill_(_random.rand(h.shape, generator, h.device, h.dtype) < sparse_level, 0.0)
        if relative:
            a = a * h.detach().pow(2).mean(dim=-1, keepdim=True).sqrt()
        out = out + a
    return out
