"""Corrupted test sets in the CIFAR-10-C folder layout (Hendrycks & Dietterich 2019).

A folder holds ``<corruption>.npy`` (uint8, (5·N)×H×W×C or (5·N)×H×W, stacked by severity: rows
0..N-1 are severity 1, N..2N-1 severity 2, ...) and ``labels.npy`` (5·N or N int labels), plus
optionally ``meta.json`` ({"classes": [...], "name": ...}, written by ``nnsafety corrupt``).
Arrays are opened with ``allow_pickle=False`` and memory-mapped, so only one severity is read.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np
import torch

from .base import ArrayDataset, register_dataset
from .files import CIFAR10_CLASSES, CIFAR100_CLASSES, missing_file, require_root

SEVERITIES = 5
_HOW_C = (
    "download {} (Hendrycks & Dietterich, zenodo.org) or write one with `nnsafety corrupt`, "
    "and pass --data-root"
)


def list_corruptions_in(root: str | Path) -> List[str]:
    """Sorted corruption names of a -C folder: its ``.npy`` file stems except ``labels``."""
    return sorted(p.stem for p in Path(root).glob("*.npy") if p.stem != "labels" and p.is_file())


def _read_classes(folder: Path, default: Optional[Sequence[str]], labels: np.ndarray) -> List[str]:
    meta = folder / "meta.json"
    if meta.is_file():
        try:
            classes = json.loads(meta.read_text())["classes"]
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(f"{meta}: expected JSON with a 'classes' list ({type(e).__name__}: {e})") from None
        if not isinstance(classes, list):
            raise ValueError(f"{meta}: expected 'classes' to be a list, got {type(classes).__name__}")
        return [str(c) for c in classes]
    if default is not None:
        return list(default)
    return [str(i) for i in range(int(labels.max()) + 1 if labels.size else 0)]


def _read_severities(folder: Path) -> List[int]:
    meta = folder / "meta.json"
    if not meta.is_file():
        return list(range(1, SEVERITIES + 1))
    try:
        values = json.loads(meta.read_text()).get("severities", list(range(1, SEVERITIES + 1)))
        blocks = [int(v) for v in values]
    except (ValueError, TypeError, AttributeError) as e:
        raise ValueError(f"{meta}: expected 'severities' to be a list of ints ({type(e).__name__}: {e})") from None
    if not blocks or len(set(blocks)) != len(blocks) or not all(1 <= b <= SEVERITIES for b in blocks):
        raise ValueError(f"{meta}: expected distinct severities in 1..{SEVERITIES}, got {values}")
    return blocks


def load_corrupted(
    folder: Path,
    corruption: Optional[str],
    severity: int,
    name: str,
    default_classes: Optional[Sequence[str]] = None,
    how: str = "",
) -> ArrayDataset:
    """One (corruption, severity) slice of the -C folder ``folder`` as uint8 N×C×H×W.

    The blocks are the severities listed in ``meta.json`` ("severities", written by our exporter
    when only some were exported), else 1..5 as in CIFAR-10-C.
    """
    if isinstance(severity, bool) or not isinstance(severity, (int, np.integer)) or not 1 <= severity <= SEVERITIES:
        raise ValueError(f"expected severity an int in 1..{SEVERITIES}, got {severity!r}")
    blocks = _read_severities(folder)
    if severity not in blocks:
        raise ValueError(f"{folder} holds severities {blocks}, not {severity}")
    labels_path = folder / "labels.npy"
    if not labels_path.is_file():
        raise missing_file(name, "labels.npy", folder, how)
    found = list_corruptions_in(folder)
    if corruption is None or corruption not in found:
        what = "needs corruption=NAME" if corruption is None else f"has no corruption {corruption!r}"
        raise ValueError(f"{name} {what}; found in {folder}: {', '.join(found) or '(no .npy files)'}")
    path = folder / f"{corruption}.npy"
    try:
        images = np.load(path, mmap_mode="r", allow_pickle=False)
        labels = np.load(labels_path, allow_pickle=False)
    except ValueError as e:  # object arrays (pickles) and malformed headers both land here
        raise ValueError(f"{name}: cannot read {path.name}/labels.npy in {folder} as plain arrays ({e})") from None
    k = len(blocks)
    if images.dtype != np.uint8 or images.ndim not in (3, 4) or images.shape[0] % k:
        raise ValueError(
            f"{path}: expected uint8 of shape ({k}·N)×H×W×C or ({k}·N)×H×W, "
            f"got {images.dtype} of shape {images.shape}"
        )
    n = images.shape[0] // k
    if labels.ndim != 1 or labels.shape[0] not in (n, k * n) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"{labels_path}: expected {n} or {k * n} int labels for {path.name}, "
            f"got {labels.dtype} of shape {labels.shape}"
        )
    lo = blocks.index(severity) * n
    chunk = np.array(images[lo: lo + n])  # reads only this severity's rows from the memory map
    y = np.asarray(labels[lo: lo + n] if labels.shape[0] != n else labels, dtype=np.int64)
    classes = _read_classes(folder, default_classes, np.asarray(labels))
    if y.size and (y.min() < 0 or y.max() >= len(classes)):
        raise ValueError(f"{labels_path}: labels must lie in [0, {len(classes)}), got [{y.min()}, {y.max()}]")
    if chunk.ndim == 3:
        chunk = chunk[..., None]  # grey H×W -> H×W×1
    x = torch.from_numpy(np.ascontiguousarray(chunk.transpose(0, 3, 1, 2)))
    return ArrayDataset(x, torch.from_numpy(y), classes, name=name)


def _check_test_split(name: str, split: str) -> None:
    if split != "test":
        raise ValueError(f"{name} has only a test split (corrupted test images); pass split='test', got {split!r}")


def _named_folder(name: str, root, sub: str, how: str) -> Path:
    path = require_root(name, root, f"{sub}/ (or that folder itself)", how)
    if (path / sub).is_dir():
        return path / sub
    if (path / "labels.npy").is_file() or path.name == sub:
        return path
    raise missing_file(name, [f"{sub}/labels.npy", "labels.npy"], path, how)


@register_dataset("cifar10c")
def cifar10c(
    root: str | None = None, split: str = "test", corruption: str | None = None, severity: int = 3
) -> ArrayDataset:
    """CIFAR-10-C: CIFAR-10 test images under ``corruption`` at ``severity`` 1..5, uint8 N×3×32×32.

    ``root``: folder holding ``CIFAR-10-C/`` or that folder itself. Classes from ``meta.json`` if
    present, else CIFAR-10's names.
    """
    _check_test_split("cifar10c", split)
    how = _HOW_C.format("CIFAR-10-C")
    folder = _named_folder("cifar10c", root, "CIFAR-10-C", how)
    return load_corrupted(folder, corruption, severity, "cifar10c", CIFAR10_CLASSES, how)


@register_dataset("cifar100c")
def cifar100c(
    root: str | None = None, split: str = "test", corruption: str | None = None, severity: int = 3
) -> ArrayDataset:
    """CIFAR-100-C: CIFAR-100 test images under ``corruption`` at ``severity`` 1..5 (fine labels).

    ``root``: folder holding ``CIFAR-100-C/`` or that folder itself.
    """
    _check_test_split("cifar100c", split)
    how = _HOW_C.format("CIFAR-100-C")
    folder = _named_folder("cifar100c", root, "CIFAR-100-C", how)
    return load_corrupted(folder, corruption, severity, "cifar100c", CIFAR100_CLASSES, how)


@register_dataset("corrupted")
def corrupted(
    root: str | None = None, split: str = "test", corruption: str | None = None, severity: int = 3
) -> ArrayDataset:
    """Any folder in the -C layout (e.g. ``nnsafety corrupt --out data/digits-C``), ``root`` = the folder.

    Classes from ``meta.json`` ({"classes": [...], "name": ...}) if present, else "0".."K-1" with
    K = max label + 1; the dataset is named after meta.json's "name" (default "corrupted").
    """
    _check_test_split("corrupted", split)
    how = "write one with `nnsafety corrupt --out FOLDER` and pass it as --data-root"
    folder = require_root("corrupted", root, "<corruption>.npy files and labels.npy", how)
    ds = load_corrupted(folder, corruption, severity, "corrupted", None, how)
    meta = folder / "meta.json"
    if meta.is_file():
        ds.name = str(json.loads(meta.read_text()).get("name", ds.name))
    return ds


__all__ = ["list_corruptions_in", "load_corrupted", "cifar10c", "cifar100c", "corrupted"]
