"""A fixed character vocabulary and the next-token dataset every character LM trains on.

The vocabulary is fixed (pad, unknown, then printable ASCII and newline), so a trained model's
token ids mean the same thing on every machine and no vocabulary file travels with a run.
``TokenStreamDataset`` cuts one long id stream into windows: x = ids[s : s+L] and y =
ids[s+1 : s+L+1] (next-token targets), the (x, y) pair the one trainer loop serves.
"""
from __future__ import annotations

import string
from typing import Dict, List, Sequence, Tuple

import torch
from torch.utils.data import Dataset

from ..domains.token import TokenDomain

PAD, UNK = "<pad>", "<unk>"


class CharVocab:
    """id 0 = pad, 1 = unknown character, then ``string.printable`` minus \\t\\r\\x0b\\x0c (98 ids in all)."""

    name = "chars"

    def __init__(self) -> None:
        chars = [c for c in string.printable if c not in "\t\r\x0b\x0c"]
        self.tokens: List[str] = [PAD, UNK] + chars
        self._index: Dict[str, int] = {c: i for i, c in enumerate(self.tokens)}
        self.pad_id, self.unk_id = 0, 1

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, text: str) -> List[int]:
        if not isinstance(text, str):
            raise ValueError(f"expected text to encode, got {type(text).__name__}")
        return [self._index.get(c, self.unk_id) for c in text]

    def decode(self, ids: Sequence[int]) -> str:
        """Pads are dropped; unknown ids decode to U+FFFD."""
        return "".join(self.tokens[i] if i > 1 else ("\ufffd" if i == 1 else "") for i in ids)


CHARS = CharVocab()


class TokenStreamDataset(Dataset):
    """Next-token windows over one id stream: item i is (ids[s:s+L], ids[s+1:s+L+1]), s = i·stride.

    ``num_classes`` is the vocabulary size and ``in_shape`` is (L,), so the run config records
    them like a classifier's; ``domain`` is a ``TokenDomain`` (ids in [0, vocab_size), pad 0).
    """

    def __init__(self, ids: torch.Tensor, block_size: int, stride: int | None = None,
                 vocab: CharVocab = CHARS, name: str = "tokens") -> None:
        ids = torch.as_tensor(ids, dtype=torch.int64).flatten()
        stride = stride or block_size
        if block_size < 1 or stride < 1:
            raise ValueError(f"expected block_size and stride >= 1, got {block_size} and {stride}")
        if ids.numel() < block_size + 1:
            raise ValueError(f"expected a stream of at least block_size + 1 = {block_size + 1} tokens, "
                             f"got {ids.numel()}")
        self.ids, self.block_size, self.stride, self.vocab, self.name = ids, block_size, stride, vocab, name
        self.starts = torch.arange(0, ids.numel() - block_size, stride)
        self.domain = TokenDomain(len(vocab), pad_id=vocab.pad_id, unk_id=vocab.unk_id)

    @property
    def classes(self) -> List[str]:
        return list(self.vocab.tokens)

    @property
    def num_classes(self) -> int:
        return len(self.vocab)

    @property
    def in_shape(self) -> Tuple[int, ...]:
        return (self.block_size,)

    def model_kwargs(self) -> Dict[str, int]:
        return {"vocab_size": len(self.vocab), "pad_id": self.vocab.pad_id}

    def __len__(self) -> int:
        return int(self.starts.numel())

    def get_batch(self, idx: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        pos = self.starts[torch.as_tensor(idx)].unsqueeze(-1) + torch.arange(self.block_size + 1)
        window = self.ids[pos]
        return window[..., :-1], window[..., 1:]

    def __getitem__(self, i: int) -> Tuple[torch.Tensor, torch.Tensor]:
        return self.get_batch(torch.tensor(i))

    def tensors(self) -> Tuple[torch.Tensor, torch.Tensor]:
        return self.get_batch(torch.arange(len(self)))

    def __repr__(self) -> str:
        return (f"TokenStreamDataset(name={self.name!r}, windows={len(self)}, block_size={self.block_size}, "
                f"tokens={self.ids.numel()})")
