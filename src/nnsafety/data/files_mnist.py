"""MNIST and Fashion-MNIST from the idx files (plain or .gz), uint8 N×1×28×28.

idx format (LeCun): big-endian int32 magic (2051 = ubyte images with 3 dims, 2049 = ubyte labels
with 1 dim), then one big-endian int32 per dimension, then the bytes row-major.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import List, Tuple

import numpy as np
import torch

from .base import ArrayDataset, register_dataset
from .files import first_existing, missing_file, read_bytes, require_root

IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049

FASHION_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
    "Ankle boot",
]

_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def parse_idx(data: bytes, magic: int, source: str) -> np.ndarray:
    """The uint8 array of an idx file whose header must carry ``magic`` (2051 or 2049)."""
    ndim = magic & 0xFF  # the low byte of the magic is the number of dimensions
    if len(data) >= 4 and int.from_bytes(data[:4], "big") != magic:
        kind = "image (idx3-ubyte)" if magic == IMAGES_MAGIC else "label (idx1-ubyte)"
        found = int.from_bytes(data[:4], "big")
        raise ValueError(f"{source}: idx magic number {found}, expected {magic} for an {kind} file")
    if len(data) < 4 + 4 * ndim:
        raise ValueError(f"{source}: truncated idx file ({len(data)} bytes, shorter than its header)")
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    offset, size = 4 + 4 * ndim, math.prod(dims)
    if len(data) - offset != size:
        raise ValueError(
            f"{source}: idx header says {'×'.join(map(str, dims))} = {size} bytes of data, "
            f"found {len(data) - offset} (truncated or not an idx file)"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(dims)


def _find(root: Path, subdirs: List[str], base: str) -> Path | None:
    return first_existing(
        root / sub / (base + ext) for sub in subdirs for ext in ("", ".gz")
    )


def _load_idx_pair(
    name: str, root, split: str, subdirs: List[str], classes: List[str], how: str
) -> ArrayDataset:
    if split not in _FILES:
        raise ValueError(f"expected split 'train' or 'test', got {split!r}")
    expects = f"the idx files ({_FILES[split][0]}[.gz], ...) directly or in {' or '.join(subdirs[1:])}"
    path = require_root(name, root, expects, how)
    arrays: List[np.ndarray] = []
    for base, magic in zip(_FILES[split], (IMAGES_MAGIC, LABELS_MAGIC)):
        found = _find(path, subdirs, base)
        if found is None:
            where = ", ".join(str(Path(s) / base) + "[.gz]" for s in subdirs)
            raise missing_file(name, f"one of {where}", path, how)
        arrays.append(parse_idx(read_bytes(found, name), magic, str(found)))
    images, labels = arrays
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"{name}: {images.shape[0]} images but {labels.shape[0]} labels in the {split} split")
    if labels.size and labels.max() >= len(classes):
        raise ValueError(f"{name}: labels must lie in [0, {len(classes)}), found {labels.max()}")
    x = torch.from_numpy(images.copy()).unsqueeze(1)  # copy: frombuffer views are read-only
    y = torch.from_numpy(labels.astype(np.int64))
    return ArrayDataset(x, y, classes, name=name)


@register_dataset("mnist")
def mnist(root: str | None = None, split: str = "train") -> ArrayDataset:
    """MNIST (LeCun et al. 1998): 60,000/10,000 grey 28×28 digits, 10 classes, uint8 N×1×28×28.

    ``root``: folder with the four idx files (plain or .gz), searched in ``root``,
    ``root/MNIST/raw`` (torchvision's layout) and ``root/mnist``.
    """
    return _load_idx_pair(
        "mnist", root, split, [".", "MNIST/raw", "mnist"], [str(i) for i in range(10)],
        "download the four MNIST idx files (e.g. from a MNIST mirror) and pass --data-root",
    )


@register_dataset("fashion_mnist")
def fashion_mnist(root: str | None = None, split: str = "train") -> ArrayDataset:
    """Fashion-MNIST (Xiao et al. 2017): same idx format and sizes as MNIST, 10 clothing classes.

    ``root``: folder with the four idx files, searched in ``root``, ``root/FashionMNIST/raw`` and
    ``root/fashion_mnist``.
    """
    return _load_idx_pair(
        "fashion_mnist", root, split, [".", "FashionMNIST/raw", "fashion_mnist"], FASHION_CLASSES,
        "download the four Fashion-MNIST idx files (github.com/zalandoresearch/fashion-mnist) "
        "and pass --data-root",
    )


__all__: Tuple[str, ...] = ("parse_idx", "mnist", "fashion_mnist")
