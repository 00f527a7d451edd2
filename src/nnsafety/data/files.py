"""Shared helpers of the file-backed datasets: root checks, one-line missing-file errors, gz reads.

Nothing is ever downloaded: each loader says which file it expected, where, and how to get it.
"""
from __future__ import annotations

import gzip
import zlib
from pathlib import Path
from typing import Iterable, Optional, Sequence

# Shared by cifar10 and cifar10c (CIFAR-10-C keeps CIFAR-10's label order).
CIFAR10_CLASSES = [
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
]

# CIFAR-100's fine label names in label order (alphabetical, as in the archive's `meta` file);
# used by cifar100c, whose folder carries no names.
CIFAR100_CLASSES = (
    "apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus "
    "butterfly camel can castle caterpillar cattle chair chimpanzee clock cloud cockroach couch "
    "crab crocodile cup dinosaur dolphin elephant flatfish forest fox girl hamster house kangaroo "
    "keyboard lamp lawn_mower leopard lion lizard lobster man maple_tree motorcycle mountain mouse "
    "mushroom oak_tree orange orchid otter palm_tree pear pickup_truck pine_tree plain plate poppy "
    "porcupine possum rabbit raccoon ray road rocket rose sea seal shark shrew skunk skyscraper "
    "snail snake spider squirrel streetcar sunflower sweet_pepper table tank telephone television "
    "tiger tractor train trout tulip turtle wardrobe whale willow_tree wolf woman worm"
).split()


def require_root(name: str, root: Optional[str | Path], expects: str, how: str) -> Path:
    """``root`` as an existing Path, else a one-line error saying what the folder should hold.

    ``expects`` describes what the folder holds ("cifar-10-batches-py/ or cifar-10-python.tar.gz"),
    ``how`` says where the data comes from. ``None`` is a ``ValueError`` (a missing argument), a
    path that does not exist is a ``FileNotFoundError``.
    """
    if root is None:
        raise ValueError(f"{name} needs --data-root (root=...) pointing at the folder with {expects}; {how}")
    path = Path(root).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"{name}: data root {path} does not exist; expected {expects} there; {how}")
    return path


def missing_file(name: str, expected: str | Sequence[str], root: Path, how: str) -> FileNotFoundError:
    """The one-line ``FileNotFoundError`` every loader raises for an absent file."""
    if not isinstance(expected, str):
        expected = " or ".join(expected)
    return FileNotFoundError(f"{name}: expected {expected} under {root}; {how}")


def first_existing(paths: Iterable[Path]) -> Optional[Path]:
    for p in paths:
        if p.is_file():
            return p
    return None


def read_bytes(path: Path, name: str) -> bytes:
    """The bytes of ``path``, gunzipped when it ends in ``.gz`` (a broken gzip is a ``ValueError``)."""
    raw = path.read_bytes()
    if path.suffix != ".gz":
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:
        raise ValueError(f"{name}: {path} is not a complete gzip file ({e})") from None
