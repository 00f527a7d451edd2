"""A fixed character vocabulary and the next-token dataset every character LM trains on.

The vocabulary is fixed (pad, unknown, then printable ASCII and newline), so a trained model's
token ids mean the same thing on every machine and no vocabulary file travels with a run.
``TokenWindowDataset`` serves windows of ids as x = w[:L] and y = w[1:L+1] (next-token targets),
the (x, y) pair the one trainer loop serves.
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


IGNORE = -100  # target id that the loss and perplexity skip (PyTorch's cross-entropy ignore_index)


def stream_windows(ids: Sequence[int], block_size: int, stride: int) -> torch.Tensor:
    """Windows of ``block_size + 1`` ids cut from one stream every ``stride`` ids (N×(L+1))."""
    ids = torch.as_tensor(ids, dtype=torch.int64).flatten()
    if ids.numel() < block_size + 1:
        raise ValueError(f"expected a stream of at least block_size + 1 = {block_size + 1} tokens, got {ids.numel()}")
    starts = torch.arange(0, ids.numel() - block_size, stride)
    return ids[starts[:, None] + torch.arange(block_size + 1)]


def packed_windows(records: Sequence[Sequence[int]], block_size: int, pad_id: int) -> torch.Tensor:
    """Whole records packed in order into windows of ``block_size + 1`` ids, padded with ``pad_id``.

    A record (a sentence, a question with its answer) is never split across windows unless it is
    longer than a window, so a fact and its context are always learned together; a stream cut at
    fixed offsets would separate some questions from their answers in every epoch."""
    width = block_size + 1
    rows, row = [], []
    for rec in records:
        rec = list(rec)
        while len(rec) > width:  # longer than a window: whole-window pieces
            if row:
                rows.append(row)
                row = []
            rows.append(rec[:width])
            rec = rec[width:]
        if len(row) + len(rec) > width:
            rows.append(row)
            row = []
        row = row + rec
    if row:
        rows.append(row)
    if not rows:
        raise ValueError("expected at least one non-empty record to pack, got none")
    return torch.tensor([r + [pad_id] * (width - len(r)) for r in rows], dtype=torch.int64)


class TokenWindowDataset(Dataset):
    """Next-token pairs from windows W (N×(L+1) ids): item i is (W[i, :-1], W[i, 1:]); a padding
    target becomes ``IGNORE`` (not scored). Build it from a stream (``stream_windows``) or from
    packed records (``packed_windows``).

    ``num_classes`` is the vocabulary size and ``in_shape`` is (L,), so the run config records
    them like a classifier's; ``domain`` is a ``TokenDomain`` (ids in [0, vocab_size), pad 0).
    """

    def __init__(self, windows: torch.Tensor, vocab: CharVocab = CHARS, name: str = "tokens") -> None:
        windows = torch.as_tensor(windows, dtype=torch.int64)
        if windows.dim() != 2 or windows.shape[1] < 2 or windows.shape[0] < 1:
            raise ValueError(f"expected windows of shape N×(L+1) with N >= 1, L >= 1, got {tuple(windows.shape)}")
        self.windows, self.vocab, self.name = windows, vocab, name
        self.block_size = windows.shape[1] - 1
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
        return int(self.windows.shape[0])

    def get_batch(self, idx: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        w = self.windows[torch.as_tensor(idx)]
        y = w[..., 1:]
        return w[..., :-1], torch.where(y == self.vocab.pad_id, IGNORE, y)

    def __getitem__(self, i: int) -> Tuple[torch.Tensor, torch.Tensor]:
        return self.get_batch(torch.tensor(i))

    def tensors(self) -> Tuple[torch.Tensor, torch.Tensor]:
        return self.get_batch(torch.arange(len(self)))

    def __repr__(self) -> str:
        return f"TokenWindowDataset(name={self.name!r}, windows={len(self)}, block_size={self.block_size})"
