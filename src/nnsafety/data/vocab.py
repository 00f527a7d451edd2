"""Word-level tokenizer: a vocabulary built from the training split, saved and rebuilt from JSON.

Tokens are the lower-cased runs of letters and digits (apostrophes inside a word kept, so
"don't" is one token) plus the punctuation marks ``! ? $`` that carry signal in reviews and spam.
Ids: ``[PAD]`` = 0, ``[UNK]`` = 1, then the kept words by decreasing training count (ties broken
alphabetically), so the same texts and settings always give the same ids. A run directory stores
the vocabulary as ``vocab.json``; ``Vocab.load`` rebuilds exactly the tokenizer the model saw.
"""
from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence

import torch

PAD, UNK = "[PAD]", "[UNK]"
PAD_ID, UNK_ID = 0, 1
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[!?$]")
FORMAT = "nnsafety-word-vocab"


def tokenize(text: str) -> List[str]:
    """``"Great coffee, don't miss!"`` -> ``["great", "coffee", "don't", "miss", "!"]``."""
    return _TOKEN.findall(text.lower())


class Vocab:
    """Token <-> id map with fixed ``[PAD]``/``[UNK]`` ids and the sequence length ``max_len``."""

    def __init__(self, tokens: Sequence[str], max_len: int, min_freq: int = 1, max_size: Optional[int] = None) -> None:
        tokens = list(tokens)
        if tokens[:2] != [PAD, UNK]:
            raise ValueError(f"expected a vocabulary starting with {PAD}, {UNK}, got {tokens[:2]}")
        if len(set(tokens)) != len(tokens):
            raise ValueError("expected unique vocabulary tokens, got duplicates")
        if not (isinstance(max_len, int) and max_len >= 1):
            raise ValueError(f"expected max_len a positive integer, got {max_len!r}")
        self.tokens = tokens
        self.index: Dict[str, int] = {t: i for i, t in enumerate(tokens)}
        self.max_len, self.min_freq, self.max_size = max_len, min_freq, max_size

    @classmethod
    def build(cls, texts: Iterable[str], max_len: int = 256, min_freq: int = 2,
              max_size: Optional[int] = 20000) -> "Vocab":
        """Keep words seen at least ``min_freq`` times, the ``max_size`` − 2 most frequent at most."""
        if not (isinstance(min_freq, int) and min_freq >= 1):
            raise ValueError(f"expected min_freq a positive integer, got {min_freq!r}")
        if max_size is not None and not (isinstance(max_size, int) and max_size >= 2):
            raise ValueError(f"expected max_size None or an integer >= 2, got {max_size!r}")
        counts = Counter(tok for text in texts for tok in tokenize(text))
        words = sorted((w for w, c in counts.items() if c >= min_freq), key=lambda w: (-counts[w], w))
        if max_size is not None:
            words = words[: max_size - 2]
        return cls([PAD, UNK] + words, max_len=max_len, min_freq=min_freq, max_size=max_size)

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def pad_id(self) -> int:
        return PAD_ID

    @property
    def unk_id(self) -> int:
        return UNK_ID

    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        """int64 ids N×max_len: the first ``max_len`` tokens of each text, right-padded with 0."""
        out = torch.full((len(texts), self.max_len), PAD_ID, dtype=torch.int64)
        for i, text in enumerate(texts):
            ids = [self.index.get(t, UNK_ID) for t in tokenize(text)[: self.max_len]]
            if ids:
                out[i, : len(ids)] = torch.tensor(ids, dtype=torch.int64)
        return out

    def decode(self, ids: torch.Tensor) -> List[str]:
        """Ids N×L back to space-joined tokens (padding dropped, unknown words as ``[UNK]``)."""
        return [" ".join(self.tokens[i] for i in row.tolist() if i != PAD_ID) for row in ids]

    def to_dict(self) -> Dict:
        return {"format": FORMAT, "version": 1, "token_pattern": _TOKEN.pattern, "lowercase": True,
                "max_len": self.max_len, "min_freq": self.min_freq, "max_size": self.max_size,
                "tokens": self.tokens}

    @classmethod
    def from_dict(cls, d: Dict, source: str = "vocabulary") -> "Vocab":
        """The stored tokenizer; a MiniLM run's WordPiece file gives a ``WordPieceVocab`` (same interface)."""
        from .text_wordpiece import WORDPIECE_FORMAT, WordPieceVocab

        if isinstance(d, dict) and d.get("format") == WORDPIECE_FORMAT:
            return WordPieceVocab.from_dict(d, source)  # type: ignore[return-value]
        if not isinstance(d, dict) or d.get("format") != FORMAT or not isinstance(d.get("tokens"), list):
            raise ValueError(f"{source}: expected a JSON object with format {FORMAT!r} and a tokens list")
        if d.get("token_pattern") != _TOKEN.pattern:
            raise ValueError(f"{source}: written with token pattern {d.get('token_pattern')!r}, "
                             f"this version tokenizes with {_TOKEN.pattern!r}")
        return cls(d["tokens"], max_len=d["max_len"], min_freq=d.get("min_freq", 1), max_size=d.get("max_size"))

    def save(self, path: str | Path) -> None:
        from .._io import write_json_atomic

        write_json_atomic(Path(path), self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> "Vocab":
        path = Path(path)
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise FileNotFoundError(f"expected a vocabulary JSON file at {path}, found none") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ValueError(f"{path}: expected a vocabulary JSON file, got unreadable JSON ({e})") from None
        return cls.from_dict(d, source=str(path))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"Vocab(size={len(self)}, max_len={self.max_len}, min_freq={self.min_freq}, max_size={self.max_size})"
