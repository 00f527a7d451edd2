"""Executables as byte sequences: a folder of files → ``ByteDataset`` (``ByteDomain`` batches).

Folder format (``--data-root DIR``): ``DIR/benign/**`` and ``DIR/malicious/**`` hold the files of
each class (either may be missing); the first folder below the class folder names the file's kind
(``DIR/benign/wine/kernel32.dll`` is a benign ``wine`` file). If ``DIR/train`` or ``DIR/test``
exists, the split reads that folder; otherwise both splits are the whole folder (scoring a
pretrained detector such as MalConv has no training split).

``make data-malware`` fills ``data/malware/pe/`` with real files: the launcher .exe files of the PyPI
packages pip and setuptools (benign) and the PE test files of the Debian package clamav-testfiles
(packed with UPX, MEW, PESpin, ...; ClamAV's harmless test signature, labelled malicious).

A batch is int64 N×L, bytes 0–255 then the pad value 256, L the longest file of the batch cut at
``max_len`` (1 MB): exactly the bytes MalConv reads, without padding every file to 1 MB.
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch.utils.data import Dataset

from ..domains.bytes import ByteDomain
from .base import register_dataset

CLASSES = ("benign", "malicious")
MAX_LEN = 2 ** 20
PAD = 256


def bytes_to_batch(files: Sequence[bytes], max_len: int = MAX_LEN, pad_value: int = PAD) -> torch.Tensor:
    """Files → int64 N×L (L = longest file cut at ``max_len``), padded with ``pad_value``."""
    length = min(max((len(b) for b in files), default=0), max_len)
    out = np.full((len(files), length), pad_value, dtype=np.int64)
    for i, b in enumerate(files):
        row = np.frombuffer(b[:max_len], dtype=np.uint8)
        out[i, : row.shape[0]] = row
    return torch.from_numpy(out)


class ByteDataset(Dataset):
    """Files (bytes) with int labels; ``get_batch(idx)`` gives ``bytes_to_batch`` of those files.

    ``paths`` and ``kinds`` say where each file came from; ``sizes`` are the full file sizes in bytes
    (a file longer than ``max_len`` is read by the model only up to ``max_len``).
    """

    def __init__(self, files: Sequence[bytes], labels: Sequence[int], classes: Sequence[str] = CLASSES,
                 name: str = "bytes", max_len: int = MAX_LEN, pad_value: int = PAD,
                 paths: Optional[Sequence[str]] = None, kinds: Optional[Sequence[str]] = None) -> None:
        if len(files) != len(labels):
            raise ValueError(f"expected as many labels as files, got {len(labels)} labels for {len(files)} files")
        self.sizes = [len(b) for b in files]
        self.files = [bytes(b[:max_len]) for b in files]
        self.labels = torch.as_tensor(list(labels), dtype=torch.int64)
        self.classes: List[str] = list(classes)
        self.name, self.max_len, self.pad_value = name, int(max_len), int(pad_value)
        self.paths = list(paths) if paths is not None else [f"file{i}" for i in range(len(files))]
        self.kinds = list(kinds) if kinds is not None else [self.classes[int(y)] for y in self.labels]

    @property
    def domain(self) -> ByteDomain:
        return ByteDomain(pad_value=self.pad_value, max_len=self.max_len)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def in_shape(self) -> Tuple[int, ...]:
        return (self.max_len,)

    def model_kwargs(self) -> dict:
        return {}

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> Tuple[torch.Tensor, int]:
        return bytes_to_batch([self.files[i]], self.max_len, self.pad_value)[0], int(self.labels[i])

    def get_batch(self, idx) -> Tuple[torch.Tensor, torch.Tensor]:
        idx = torch.as_tensor(idx).reshape(-1).tolist()
        return bytes_to_batch([self.files[i] for i in idx], self.max_len, self.pad_value), self.labels[idx]

    def tensors(self) -> Tuple[torch.Tensor, torch.Tensor]:
        return self.get_batch(list(range(len(self))))

    def subset(self, n: int) -> "ByteDataset":
        return self.select(list(range(min(n, len(self)))))

    def select(self, idx: Sequence[int]) -> "ByteDataset":
        """The files at ``idx`` (in that order), with their labels, paths and kinds."""
        out = ByteDataset([self.files[i] for i in idx], [int(self.labels[i]) for i in idx], self.classes,
                          self.name, self.max_len, self.pad_value, [self.paths[i] for i in idx],
                          [self.kinds[i] for i in idx])
        out.sizes = [self.sizes[i] for i in idx]
        return out

    def __repr__(self) -> str:
        return f"ByteDataset(name={self.name!r}, n={len(self)}, max_len={self.max_len})"


def read_byte_folder(root: str | Path, classes: Sequence[str] = CLASSES, max_len: int = MAX_LEN,
                     name: str = "pe_files") -> ByteDataset:
    """Every file under ``root/<class>/`` (recursively, sorted), labelled by its class folder."""
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"expected a folder with {'/, '.join(classes)}/ subfolders of files, got {root}")
    files, labels, paths, kinds = [], [], [], []
    for label, cls in enumerate(classes):
        folder = root / cls
        for path in sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []:
            rel = path.relative_to(folder).parts
            with open(path, "rb") as f:
                files.append(f.read())
            labels.append(label)
            paths.append(str(path))
            kinds.append(rel[0] if len(rel) > 1 else cls)
    if not files:
        raise ValueError(f"expected files under {root}/{'/ or '.join(classes)}/, found none")
    return ByteDataset(files, labels, classes, name, max_len, PAD, paths, kinds)


@register_dataset("pe_files", domains=("bytes",))
def pe_files(root: Optional[str] = None, split: str = "test", max_len: int = MAX_LEN) -> ByteDataset:
    """Windows executables from a folder (format in the module docstring); default ``data/malware/pe``."""
    base = Path(root) if root is not None else Path("data/malware/pe")
    if root is None and not base.is_dir():
        raise ValueError("expected --data-root with benign/ and malicious/ folders of files "
                         "(or run `make data-malware` to fetch real ones into data/malware/pe)")
    folder = base / split if (base / split).is_dir() else base
    return read_byte_folder(folder, max_len=max_len)
