"""``TokenDomain``: int64 token ids N×L with padding; discrete edits under an edit budget.

A text batch is its ids; the attention mask is ``ids != pad_id`` (``mask``), so every (x, y)
loop of the toolkit serves text unchanged. Continuous methods (embedding mixup, embedding PGD,
Gaussian noise) act on the model's ``embed(ids)`` output, never on ids; this domain governs the
discrete edits: a valid change keeps the length and the padding, never touches the protected ids
(``[CLS]``/``[SEP]``-like specials) and changes at most ``max_edits`` real tokens per sequence
(an int, or a fraction of the sequence's real tokens, rounded down).
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch

from .base import Domain, check_same_shape, keep_immutable, register_domain


@register_domain("token")
class TokenDomain(Domain):
    """Token ids in [0, vocab_size); pads fixed; protected ids fixed; ≤ ``max_edits`` changes."""

    noise_families = ("token_replace", "token_mask", "token_delete", "embedding_gaussian")

    def __init__(self, vocab_size: int, pad_id: int = 0, unk_id: Optional[int] = 1,
                 protected_ids: Sequence[int] = (), max_edits: Optional[float] = None) -> None:
        if int(vocab_size) < 2:
            raise ValueError(f"expected vocab_size >= 2, got {vocab_size}")
        if not 0 <= int(pad_id) < int(vocab_size):
            raise ValueError(f"expected pad_id in [0, {vocab_size}), got {pad_id}")
        if max_edits is not None and (max_edits < 0 or (max_edits != int(max_edits) and max_edits > 1)):
            raise ValueError(f"expected max_edits an int >= 0 or a fraction in [0, 1], got {max_edits}")
        self.vocab_size, self.pad_id = int(vocab_size), int(pad_id)
        self.unk_id = None if unk_id is None else int(unk_id)
        self.protected_ids = tuple(int(i) for i in protected_ids)
        self.max_edits = max_edits

    def check(self, x: torch.Tensor, name: str = "x") -> None:
        if not isinstance(x, torch.Tensor) or x.dtype != torch.int64 or x.dim() != 2:
            got = f"{x.dtype} of shape {tuple(x.shape)}" if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"expected {name} to be int64 token ids of shape N×L, got {got}")
        if x.numel():
            lo, hi = int(x.min()), int(x.max())
            if lo < 0 or hi >= self.vocab_size:
                raise ValueError(f"expected {name} token ids in [0, {self.vocab_size}), got [{lo}, {hi}]")

    def mask(self, x: torch.Tensor) -> torch.Tensor:
        """Attention mask: True on real tokens."""
        return x != self.pad_id

    def budget(self, x0: torch.Tensor) -> torch.Tensor:
        """Per-sequence number of tokens that may change (all of them without a budget)."""
        n_real = self.mask(x0).sum(dim=1)
        if self.max_edits is None:
            return n_real
        if self.max_edits <= 1 and self.max_edits != int(self.max_edits):
            return torch.floor(n_real.double() * self.max_edits).long()
        return torch.full_like(n_real, int(self.max_edits))

    def frozen(self, x0: torch.Tensor) -> torch.Tensor:
        """Positions no edit may touch: padding and protected ids."""
        frozen = ~self.mask(x0)
        for i in self.protected_ids:
            frozen |= x0 == i
        return frozen

    def project(self, x: torch.Tensor, x0: torch.Tensor, mutable: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Clamp ids into the vocabulary, restore frozen/immutable positions and ids that would
        become pad or protected, then keep only the first ``budget`` changed positions."""
        check_same_shape(x, x0)
        out = keep_immutable(x.clamp(0, self.vocab_size - 1), x0, mutable)
        bad = self.frozen(x0) | (out == self.pad_id)
        for i in self.protected_ids:
            bad |= out == i
        out = torch.where(bad, x0, out)
        changed = out != x0
        rank = changed.long().cumsum(dim=1)  # 1-based order of each change along the sequence
        over = changed & (rank > self.budget(x0)[:, None])
        return torch.where(over, x0, out)

    def distance(self, x: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
        """Number of changed tokens per sequence."""
        check_same_shape(x, x0)
        return (x != x0).sum(dim=1)

    def config(self):
        return {"name": self.name, "vocab_size": self.vocab_size, "pad_id": self.pad_id, "unk_id": self.unk_id,
                "protected_ids": list(self.protected_ids), "max_edits": self.max_edits}
