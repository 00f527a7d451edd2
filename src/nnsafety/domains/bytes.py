"""``ByteDomain``: raw file bytes as int64 N×L with values 0–255 and a pad value (256) past the end.

The valid changes of an executable are the functionality-preserving ones: bytes inside editable
regions (DOS-header slack, the DOS stub, section slack, the overlay appended after the file). The
regions are per file, so they come with each batch as the ``mutable`` mask (True where a byte may
change; a PE reader computes it). Inside a region a byte takes any value 0–255; appended bytes
(pad positions that are mutable) must be contiguous from the file's end, so the result is still
one file; nothing outside the regions ever changes and no real byte ever becomes padding.
"""
from __future__ import annotations

from typing import Optional

import torch

from .base import Domain, check_same_shape, register_domain


@register_domain("bytes")
class ByteDomain(Domain):
    """Bytes 0–255 with ``pad_value`` past each file's end; changes only where ``mutable``."""

    noise_families = ("byte_uniform", "byte_flip")

    def __init__(self, pad_value: int = 256, max_len: Optional[int] = None) -> None:
        if int(pad_value) < 256:
            raise ValueError(f"expected a pad value outside 0–255 (>= 256), got {pad_value}")
        self.pad_value = int(pad_value)
        self.max_len = None if max_len is None else int(max_len)

    def check(self, x: torch.Tensor, name: str = "x") -> None:
        if not isinstance(x, torch.Tensor) or x.dtype != torch.int64 or x.dim() != 2:
            got = f"{x.dtype} of shape {tuple(x.shape)}" if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"expected {name} to be int64 bytes of shape N×L, got {got}")
        if self.max_len is not None and x.shape[1] > self.max_len:
            raise ValueError(f"expected at most {self.max_len} bytes per file, got {x.shape[1]}")
        if x.numel():
            bad = ((x < 0) | (x > 255)) & (x != self.pad_value)
            if bad.any():
                raise ValueError(f"expected {name} bytes in 0–255 or the pad value {self.pad_value}, "
                                 f"got {int(x[bad][0])}")

    def lengths(self, x: torch.Tensor) -> torch.Tensor:
        """Bytes before the first pad per row (the file's length)."""
        is_pad = x == self.pad_value
        first = torch.where(is_pad.any(dim=1), is_pad.float().argmax(dim=1), torch.full_like(x[:, 0], x.shape[1]))
        return first

    def project(self, x: torch.Tensor, x0: torch.Tensor, mutable: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Restore every immutable byte; clamp mutable ones to 0–255 (a real byte never becomes
        padding); appended bytes keep only the contiguous run after the file's end."""
        check_same_shape(x, x0)
        if mutable is None:
            mutable = torch.ones_like(x0, dtype=torch.bool)
        mutable = mutable.to(torch.bool).expand_as(x0)
        was_pad = x0 == self.pad_value
        val = torch.where(was_pad & (x == self.pad_value), x, x.clamp(0, 255))
        out = torch.where(mutable, val, x0)
        # an appended run must start at the file's end and have no gap: cut it at the first pad
        pos = torch.arange(x0.shape[1], device=x0.device)[None, :]
        tail = pos >= self.lengths(x0)[:, None]
        gap = tail & (out == self.pad_value)
        after_gap = gap.long().cummax(dim=1).values.bool()
        return torch.where(tail & after_gap, torch.full_like(out, self.pad_value), out)

    def distance(self, x: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
        """Number of changed bytes per file (appended bytes count)."""
        check_same_shape(x, x0)
        return (x != x0).sum(dim=1)

    def config(self):
        return {"name": self.name, "pad_value": self.pad_value, "max_len": self.max_len}
