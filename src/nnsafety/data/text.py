"""Text datasets: ``TokenDataset`` (ids N×L + labels) and the loader for a user's own text files.

Every text dataset keeps its raw strings (``texts``, for TF-IDF baselines and word-level
augmentation) and the ``Vocab`` built from its *training* split, so the test split of a dataset is
encoded with the training vocabulary and a run directory (``vocab.json``) rebuilds the tokenizer.

``load_dataset("text_files", root=D)`` reads a user's folder in one of three layouts:
``train.csv`` + ``test.csv`` or ``train.jsonl`` + ``test.jsonl`` (columns ``text`` and ``label``),
or ``train/<class>/*.txt`` + ``test/<class>/*.txt`` (one document per file, the folder names the
class). Classes are the sorted training labels; a test label outside them is an error.
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch.utils.data import Dataset

from ..domains import TokenDomain
from .base import register_dataset
from .files import require_root
from .vocab import Vocab, tokenize

VOCAB_FILE = "vocab.json"


@dataclass
class TextSplit:
    """Raw strings and their string labels, before tokenization."""

    texts: List[str]
    labels: List[str]
    source: str = ""  # the file or folder they came from, for error messages


class TokenDataset(Dataset):
    """Token ids (int64 N×L, 0 = padding) and integer labels, served like ``ArrayDataset``.

    ``get_batch(idx)`` / ``tensors()`` return ids and labels; ``domain`` is the ``TokenDomain`` of
    the vocabulary; ``model_kwargs()`` (vocab_size, pad_id) is what a text model needs to be built;
    ``run_files()`` is what a run directory stores to rebuild the tokenizer.
    """

    def __init__(self, ids: torch.Tensor, labels: torch.Tensor, classes: Sequence[str], vocab: Vocab,
                 texts: Optional[Sequence[str]] = None, name: str = "text") -> None:
        if ids.dtype != torch.int64 or ids.dim() != 2:
            raise ValueError(f"expected int64 token ids of shape N×L, got {ids.dtype} of shape {tuple(ids.shape)}")
        if ids.shape[0] != labels.shape[0]:
            raise ValueError(f"expected as many labels as sequences, got {labels.shape[0]} for {ids.shape[0]}")
        if texts is not None and len(texts) != ids.shape[0]:
            raise ValueError(f"expected one text per sequence, got {len(texts)} for {ids.shape[0]}")
        self.ids, self.labels = ids, labels.to(torch.int64)
        self.classes: List[str] = list(classes)
        self.vocab, self.name = vocab, name
        self.texts = list(texts) if texts is not None else None
        self.data_root: Optional[str] = None  # where pretrained word vectors are looked up first

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def in_shape(self) -> Tuple[int, ...]:
        return (self.ids.shape[1],)

    @property
    def domain(self) -> TokenDomain:
        v = self.vocab  # a word Vocab or MiniLM's WordPieceVocab ([CLS]/[SEP] protected)
        return TokenDomain(vocab_size=len(v), pad_id=v.pad_id, unk_id=v.unk_id,
                           protected_ids=getattr(v, "protected_ids", ()))

    def model_kwargs(self) -> Dict[str, int]:
        return {"vocab_size": len(self.vocab), "pad_id": self.vocab.pad_id}

    def run_files(self) -> Dict[str, Dict]:
        """JSON files a run directory keeps beside config.json (the tokenizer)."""
        return {VOCAB_FILE: self.vocab.to_dict()}

    def init_model(self, model) -> None:
        """Data-dependent initialisation of a fresh model: pretrained word vectors into the rows of
        the vocabulary's words when the model asks for them (``model.vectors``); others keep their
        random init (Kim 2014). Called by the trainer before training."""
        source = getattr(model, "vectors", None)
        if source is None:
            return
        from .word_vectors import load_vectors

        table, found = load_vectors(source, self.vocab.tokens, self.data_root)
        weight = model.embedding.weight
        with torch.no_grad():
            weight[found] = table[found].to(weight)

    def __len__(self) -> int:
        return self.ids.shape[0]

    def __getitem__(self, i: int) -> Tuple[torch.Tensor, int]:
        return self.ids[i], int(self.labels[i])

    def get_batch(self, idx: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        return self.ids[idx], self.labels[idx]

    def tensors(self) -> Tuple[torch.Tensor, torch.Tensor]:
        return self.ids, self.labels

    def subset(self, n: int) -> "TokenDataset":
        texts = self.texts[:n] if self.texts is not None else None
        out = TokenDataset(self.ids[:n], self.labels[:n], self.classes, self.vocab, texts, self.name)
        out.data_root = self.data_root
        return out

    def __repr__(self) -> str:
        return (f"TokenDataset(name={self.name!r}, n={len(self)}, max_len={self.in_shape[0]}, "
                f"vocab={len(self.vocab)}, num_classes={self.num_classes})")


def token_dataset(train: TextSplit, split: TextSplit, classes: Sequence[str], name: str, source: str,
                  max_len: int = 256, min_freq: int = 2, max_size: Optional[int] = 20000,
                  data_root: Optional[str] = None) -> TokenDataset:
    """Encode ``split`` with the vocabulary of ``train``; labels are indices into ``classes``."""
    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted({lab for lab in split.labels if lab not in index})
    if unknown:
        raise ValueError(f"{split.source or source}: unknown label(s) {', '.join(map(repr, unknown[:5]))}; "
                         f"expected one of the training classes {', '.join(map(repr, classes))}")
    vocab = Vocab.build(train.texts, max_len=max_len, min_freq=min_freq, max_size=max_size)
    labels = torch.tensor([index[lab] for lab in split.labels], dtype=torch.int64)
    ds = TokenDataset(vocab.encode(split.texts), labels, classes, vocab, split.texts, name)
    ds.data_root = data_root
    return ds


def _check_rows(split: TextSplit, source: str) -> TextSplit:
    if not split.texts:
        raise ValueError(f"{source}: expected at least one labelled text, got none")
    for i, text in enumerate(split.texts):
        if not tokenize(text):
            raise ValueError(f"{source}: row {i + 1} has an empty text (no words); expected non-empty text")
    return split


def read_table(path: Path, text_column: str = "text", label_column: str = "label") -> TextSplit:
    """A CSV (header row) or JSONL (one object per line) file with a text and a label column."""
    fmt = (f"a {'JSONL file of objects' if path.suffix == '.jsonl' else 'CSV file with a header'} "
           f"with columns {text_column!r} and {label_column!r}")
    texts, labels = [], []
    try:
        with path.open(encoding="utf-8", newline="") as f:
            if path.suffix == ".jsonl":
                rows = (json.loads(line) for line in f if line.strip())
            else:
                rows = csv.DictReader(f)
            for row in rows:
                if not isinstance(row, dict) or row.get(text_column) is None or row.get(label_column) is None:
                    raise ValueError("missing column")
                texts.append(str(row[text_column]))
                labels.append(str(row[label_column]))
    except (ValueError, UnicodeDecodeError, csv.Error) as e:
        raise ValueError(f"{path}: expected {fmt}, got a malformed row {len(texts) + 1} ({e})") from None
    return _check_rows(TextSplit(texts, labels, str(path)), str(path))


def read_class_folders(path: Path) -> TextSplit:
    """``path/<class>/*.txt``: one UTF-8 document per file, the folder name is the label."""
    texts, labels = [], []
    for folder in sorted(p for p in path.iterdir() if p.is_dir()):
        for f in sorted(folder.glob("*.txt")):
            texts.append(f.read_text(encoding="utf-8", errors="replace"))
            labels.append(folder.name)
    source = f"{path} (expected <class>/*.txt files)"
    return _check_rows(TextSplit(texts, labels, source), source)


def _read_user_split(root: Path, split: str, text_column: str, label_column: str) -> TextSplit:
    for ext in (".csv", ".jsonl"):
        if (root / f"{split}{ext}").is_file():
            return read_table(root / f"{split}{ext}", text_column, label_column)
    if (root / split).is_dir():
        return read_class_folders(root / split)
    raise FileNotFoundError(f"text_files: expected {split}.csv, {split}.jsonl or a {split}/<class>/*.txt folder "
                            f"under {root}")


@register_dataset("text_files")
def text_files(root: Optional[str] = None, split: str = "train", text_column: str = "text",
               label_column: str = "label", max_len: int = 256, min_freq: int = 2,
               max_size: Optional[int] = 20000) -> TokenDataset:
    """A user's labelled texts (layouts in the module docstring), tokenized with the train vocabulary."""
    path = require_root("text_files", root, "train/test .csv, .jsonl or <class>/*.txt folders",
                        "see nnsafety.data.text for the layouts")
    train = _read_user_split(path, "train", text_column, label_column)
    part = train if split == "train" else _read_user_split(path, split, text_column, label_column)
    classes = sorted(set(train.labels))
    return token_dataset(train, part, classes, "text_files", str(path / split), max_len, min_freq, max_size, str(path))
