"""CIFAR-10 / CIFAR-100 from the official python-pickle batches, read with a restricted unpickler.

The batches are Python-2 cPickle (protocol 2) dicts with bytes keys: ``b"data"`` is an N×3072
uint8 array (the R, G, B planes of a 32×32 image, row-major), labels are lists of ints. A pickle
can run arbitrary code while loading, so ``find_class`` resolves only the four globals such a
file needs; anything else (``os.system``, ``builtins.eval``, ...) is refused before it is called.
"""
from __future__ import annotations

import io
import pickle
import tarfile
from pathlib import Path
from typing import Callable, Dict, List, Sequence, Tuple

import numpy as np
import torch

from .base import ArrayDataset, register_dataset
from .files import CIFAR10_CLASSES, missing_file, require_root

try:  # NumPy >= 2 moved the module; the batches name the old path, both are accepted.
    from numpy._core.multiarray import _reconstruct as _np_reconstruct
except ImportError:  # pragma: no cover - NumPy 1.x
    from numpy.core.multiarray import _reconstruct as _np_reconstruct


class UnsafePickleError(pickle.UnpicklingError, ValueError):
    """A pickle referenced a global outside the CIFAR whitelist; nothing in it was executed."""


def _reconstruct(subtype, shape, dtype):
    if subtype is not np.ndarray:
        raise UnsafePickleError(f"refusing to reconstruct an array of type {subtype!r}")
    return _np_reconstruct(subtype, shape, dtype)


def _dtype(obj, align=False, copy=False):
    dt = np.dtype(obj, align, copy)
    if dt.hasobject:  # object arrays would smuggle arbitrary pickled objects in their payload
        raise UnsafePickleError(f"refusing a numpy object dtype {dt!r}")
    return dt


def _latin1_encode(text, encoding="utf-8", errors="strict"):
    # Python 3 writes bytes as _codecs.encode(str, "latin1") at protocol 2; only that form is let in.
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise UnsafePickleError(f"refusing _codecs.encode with encoding {encoding!r}")
    return text.encode("latin-1", errors)


_ALLOWED: Dict[Tuple[str, str], Callable] = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): _dtype,
    ("_codecs", "encode"): _latin1_encode,
}


class CifarUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` that resolves only the globals a CIFAR batch needs (see ``_ALLOWED``)."""

    def __init__(self, file, source: str = "<bytes>") -> None:
        # encoding="bytes": the Python-2 str fields (keys, pixel buffers) must stay bytes.
        super().__init__(file, encoding="bytes")
        self.source = source

    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"refusing to unpickle {self.source}: it references {module}.{name}, which a CIFAR "
                "batch never contains (only numpy arrays, lists and bytes); the file is not a "
                "genuine CIFAR batch"
            ) from None


def safe_unpickle(data: bytes, source: str = "<bytes>"):
    """Unpickle CIFAR batch bytes with ``CifarUnpickler``; a broken stream is a ``ValueError``."""
    try:
        return CifarUnpickler(io.BytesIO(data), source).load()
    except UnsafePickleError as e:
        if source in str(e):
            raise
        raise UnsafePickleError(f"refusing to unpickle {source}: {e}; not a genuine CIFAR batch") from None
    except Exception as e:  # truncated/garbled stream: many exception types, one meaning
        raise ValueError(f"cannot read {source}: not a complete CIFAR pickle ({type(e).__name__}: {e})") from None


class _Spec:
    def __init__(self, name, folder, archive, train, test, meta, label_keys, how):
        self.name, self.folder, self.archive = name, folder, archive
        self.train, self.test, self.meta = train, test, meta
        self.label_keys, self.how = label_keys, how


_HOW = "download {} (python version) from https://www.cs.toronto.edu/~kriz/cifar.html and pass --data-root"
_CIFAR10 = _Spec(
    "cifar10", "cifar-10-batches-py", "cifar-10-python.tar.gz",
    [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"], "batches.meta",
    {"fine": (b"labels", b"label_names")}, _HOW.format("CIFAR-10"),
)
_CIFAR100 = _Spec(
    "cifar100", "cifar-100-python", "cifar-100-python.tar.gz", ["train"], ["test"], "meta",
    {"fine": (b"fine_labels", b"fine_label_names"), "coarse": (b"coarse_labels", b"coarse_label_names")},
    _HOW.format("CIFAR-100"),
)


def _read_members(spec: _Spec, root: Path, wanted: List[str]) -> Tuple[Dict[str, bytes], str]:
    """The bytes of ``wanted`` files, and where they came from, from the batch folder or the archive.

    ``root`` may hold the folder, be the folder, hold the archive or be the archive. The archive is
    streamed once in order (no extraction to disk, no backward seeks in the gzip stream). The meta
    file is optional; every other wanted file missing is a one-line ``FileNotFoundError``.
    """
    for folder in (root / spec.folder, root):
        if folder.is_dir() and (folder / wanted[0]).is_file():
            found = {}
            for w in wanted:
                if not (folder / w).is_file() and w != spec.meta:
                    raise missing_file(spec.name, w, folder, spec.how)
                if (folder / w).is_file():
                    found[w] = (folder / w).read_bytes()
            return found, str(folder)
    archive = root if root.is_file() else root / spec.archive
    if not archive.is_file():
        raise missing_file(spec.name, [f"{spec.folder}/{wanted[0]}", f"{spec.archive}"], root, spec.how)
    found = {}
    try:
        with tarfile.open(archive, "r|gz") as tar:
            for member in tar:
                parts = Path(member.name).parts
                base = parts[-1] if parts else ""
                if member.isfile() and base in wanted and (len(parts) == 1 or parts[-2] == spec.folder):
                    found[base] = tar.extractfile(member).read()
    except (tarfile.TarError, OSError, EOFError) as e:
        raise ValueError(f"{spec.name}: cannot read archive {archive} ({e})") from None
    for w in wanted:
        if w not in found and w != spec.meta:
            raise missing_file(spec.name, f"{spec.folder}/{w} inside {archive.name}", root, spec.how)
    return found, f"{archive}:{spec.folder}"


def _batch_arrays(obj, source: str, label_key: bytes) -> Tuple[np.ndarray, np.ndarray]:
    if not isinstance(obj, dict) or b"data" not in obj or label_key not in obj:
        keys = sorted(obj) if isinstance(obj, dict) else type(obj).__name__
        raise ValueError(f"{source}: expected a dict with keys b'data' and {label_key!r}, got {keys}")
    data, labels = obj[b"data"], np.asarray(obj[label_key], dtype=np.int64)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        got = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise ValueError(f"{source}: expected b'data' as uint8 N×3072, got {got}")
    if labels.shape != (data.shape[0],):
        raise ValueError(f"{source}: expected {data.shape[0]} labels, got shape {labels.shape}")
    return data, labels


def _load_cifar(spec: _Spec, root, split: str, label_mode: str) -> ArrayDataset:
    if label_mode not in spec.label_keys:
        raise ValueError(f"expected label_mode in {sorted(spec.label_keys)}, got {label_mode!r}")
    if split not in ("train", "test"):
        raise ValueError(f"expected split 'train' or 'test', got {split!r}")
    path = require_root(spec.name, root, f"{spec.folder}/ or {spec.archive}", spec.how)
    files = spec.train if split == "train" else spec.test
    raw, where = _read_members(spec, path, files + [spec.meta])
    label_key, names_key = spec.label_keys[label_mode]
    xs, ys = [], []
    for f in files:
        source = f"{where}/{f}"
        data, labels = _batch_arrays(safe_unpickle(raw.pop(f), source), source, label_key)
        xs.append(data)
        ys.append(labels)
    if spec.meta in raw:
        meta = safe_unpickle(raw[spec.meta], f"{where}/{spec.meta}")
        classes = [n.decode("utf-8") if isinstance(n, bytes) else str(n) for n in meta[names_key]]
    elif spec is _CIFAR10:
        classes = list(CIFAR10_CLASSES)
    else:
        classes = [str(i) for i in range(100 if label_mode == "fine" else 20)]
    y = np.concatenate(ys)
    if y.size and (y.min() < 0 or y.max() >= len(classes)):
        raise ValueError(f"{spec.name}: labels must lie in [0, {len(classes)}), got [{y.min()}, {y.max()}]")
    x = np.concatenate(xs).reshape(-1, 3, 32, 32)  # channel-major rows: R plane, G plane, B plane
    return ArrayDataset(torch.from_numpy(x), torch.from_numpy(y), classes, name=spec.name)


@register_dataset("cifar10")
def cifar10(root: str | None = None, split: str = "train") -> ArrayDataset:
    """CIFAR-10 (Krizhevsky 2009): 50,000/10,000 RGB 32×32 images, 10 classes, uint8 N×3×32×32.

    ``root``: folder holding ``cifar-10-batches-py/`` (or that folder, or ``cifar-10-python.tar.gz``,
    read in place). ``batches.meta`` gives the class names when present.
    """
    return _load_cifar(_CIFAR10, root, split, "fine")


@register_dataset("cifar100")
def cifar100(root: str | None = None, split: str = "train", label_mode: str = "fine") -> ArrayDataset:
    """CIFAR-100: 50,000/10,000 RGB 32×32 images; ``label_mode`` "fine" (100 classes) or "coarse" (20).

    ``root``: folder holding ``cifar-100-python/`` (or that folder, or ``cifar-100-python.tar.gz``).
    """
    return _load_cifar(_CIFAR100, root, split, label_mode)


__all__: Sequence[str] = ["CifarUnpickler", "UnsafePickleError", "safe_unpickle", "cifar10", "cifar100"]
