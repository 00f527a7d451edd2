"""Jane Austen's six novels (Debian package r-cran-janeaustenr, 4.0 M characters) as GPT-2 BPE
token windows: the corpus the BPE variant of ``char_gpt`` trains on.

``convert`` (``make data-genai``) reads the package's R lazy-load database once (``Rdata.rdx``: a
gzip-compressed index name -> (offset, length); ``Rdata.rdb``: per object a 4-byte big-endian
size and a zlib stream of its R serialization, parsed by the PyPI package rdata) and writes one
UTF-8 text file per novel. ``austen_bpe`` encodes them with ``ByteBPE`` and keeps a compact
vocabulary: pad, unknown, then the GPT-2 tokens that occur in the training split (≈ 12 k of 50 k,
so the output layer is a quarter of GPT-2's). The last 5% of each novel is the test split.
"""
from __future__ import annotations

import gzip
import struct
import warnings
import zlib
from functools import lru_cache
from pathlib import Path
from typing import Dict, List, Sequence

import torch

from ..data.chars import TokenWindowDataset, stream_windows
from .bpe import DEFAULT_DIR as BPE_DIR
from .bpe import ByteBPE

BOOKS = ("sensesensibility", "prideprejudice", "mansfieldpark", "emma", "northangerabbey", "persuasion")
DEFAULT_DIR = Path("data") / "genai" / "austen"
TEST_SHARE = 0.05


def convert(rdb: str | Path, rdx: str | Path, out_dir: str | Path = DEFAULT_DIR) -> Path:
    """One ``<book>.txt`` per novel (its lines joined by newlines) from the package's database."""
    import rdata

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # rdata: an index without a file header is "assumed RDS"
        index = rdata.conversion.convert(rdata.parser.parse_data(gzip.decompress(Path(rdx).read_bytes())))
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        data = Path(rdb).read_bytes()
        for book in BOOKS:
            offset, length = (int(v) for v in index["variables"][book])
            entry = data[offset:offset + length]
            size = struct.unpack(">I", entry[:4])[0]
            raw = zlib.decompress(entry[4:])
            if len(raw) != size:
                raise ValueError(f"{rdb}: expected {size} bytes for {book}, got {len(raw)}")
            lines = rdata.conversion.convert(rdata.parser.parse_data(raw))
            tmp = out / f"{book}.txt.tmp"
            tmp.write_text("\n".join(str(x) for x in lines) + "\n", encoding="utf-8")
            tmp.replace(out / f"{book}.txt")
    return out


class CompactBPE:
    """GPT-2 BPE with a compact vocabulary: id 0 pad, 1 unknown, then ``tokens`` (GPT-2 token
    strings); a GPT-2 token outside it encodes to unknown."""

    name = "gpt2_bpe_compact"

    def __init__(self, bpe: ByteBPE, tokens: Sequence[str]) -> None:
        self.bpe = bpe
        self.tokens: List[str] = ["<pad>", "<unk>", *tokens]
        self.pad_id, self.unk_id = 0, 1
        self.to_compact: Dict[int, int] = {bpe.encoder[t]: i + 2 for i, t in enumerate(tokens)}
        self.to_gpt2 = {c: g for g, c in self.to_compact.items()}

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, text: str) -> List[int]:
        return [self.to_compact.get(i, self.unk_id) for i in self.bpe.encode(text)]

    def decode(self, ids: Sequence[int]) -> str:
        return self.bpe.decode([self.to_gpt2[int(i)] for i in ids if int(i) in self.to_gpt2])


@lru_cache(maxsize=2)
def _encoded(folder: str, bpe_folder: str):
    bpe = ByteBPE.from_files(bpe_folder)
    train, test = [], []
    for book in BOOKS:
        path = Path(folder) / f"{book}.txt"
        if not path.is_file():
            raise FileNotFoundError(f"expected {path}; run `make data-genai` (Jane Austen from r-cran-janeaustenr)")
        ids = bpe.encode(path.read_text(encoding="utf-8"))
        cut = int(len(ids) * (1 - TEST_SHARE))
        train.append(ids[:cut])
        test.append(ids[cut:])
    seen = sorted({i for part in train for i in part})
    return CompactBPE(bpe, [bpe.decoder[i] for i in seen]), train, test


def austen_bpe(split: str = "train", block_size: int = 128, folder: str | Path = DEFAULT_DIR,
               bpe_folder: str | Path = BPE_DIR) -> TokenWindowDataset:
    """Next-token windows of BPE ids over the novels (train: non-overlapping windows of the first
    95% of each novel; test: of the last 5%), in the compact vocabulary of the training split."""
    if split not in ("train", "test"):
        raise ValueError(f"expected split 'train' or 'test', got {split!r}")
    vocab, train, test = _encoded(str(folder), str(bpe_folder))
    parts = [[vocab.to_compact.get(i, vocab.unk_id) for i in p] for p in (train if split == "train" else test)]
    windows = torch.cat([stream_windows(p, block_size, block_size) for p in parts])
    return TokenWindowDataset(windows, vocab, name="austen_bpe")
