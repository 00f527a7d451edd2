"""Feature-space security datasets with the changes an attacker can make (``FeatureDomain``).

- ``spambase``: UCI Spambase, 4,601 emails × 57 features (1,813 spam), the UCI file
  ``spambase.data`` (57 comma-separated features then the 0/1 label per line). Features: 48 word
  and 6 character frequencies (% of words / characters, [0, 100]), the average and longest run of
  capitals (real ≥ 1, integer ≥ 1) and the total number of capitals (integer ≥ 1). A spammer can
  add text but not take the spam out: every feature is add-only (direction +1). Adding words also
  lowers the other frequencies of a real email; the domain ignores that renormalization, as the
  usual add-only threat model for Spambase does.
- ``phishing``: 1,250 web pages × 9 features (548 phishing), the CSV ``phishing.csv.gz`` of the PyPI
  package river (header row, last column ``is_phishing``). Seven features take the values 0, 0.5, 1;
  they are stored ×2 as integers 0–2 so the domain can keep them on their three levels;
  ``age_of_domain`` and ``ip_in_url`` are binary. The page's author controls everything on the page
  but not the domain's popularity (``is_popular``) or age (``age_of_domain``): those are immutable.

Each domain's ``scale`` (the unit of an attack budget ε) is the training split's per-feature
standard deviation, the same for both splits, so ε = 0.5 means half a standard deviation of every
feature whichever split is attacked.

``make data-malware`` writes both files to ``data/malware/spambase/spambase.data`` (converted from
the R data of the Debian package r-cran-kernlab with the PyPI package rdata) and
``data/malware/phishing/phishing.csv.gz``. Splits are fixed: a seed-0 permutation, the first 80 %
for training.
"""
from __future__ import annotations

import csv
import gzip
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np
import torch

from .._io import write_text_atomic
from ..domains.feature import FeatureDomain
from .base import ArrayDataset, register_dataset

SPAM_WORDS = 48
SPAM_CHARS = 6


class FeatureDataset(ArrayDataset):
    """N×D float features (not scaled to [0, 1]) with their ``FeatureDomain``."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, classes: Sequence[str], name: str,
                 domain: FeatureDomain) -> None:
        super().__init__(x.to(torch.float32), y, classes, name)
        if x.dim() != 2 or x.shape[1] != domain.dim:
            raise ValueError(f"expected N×{domain.dim} features for {name}, got {tuple(x.shape)}")
        self._domain = domain

    @property
    def domain(self) -> FeatureDomain:
        return self._domain

    def subset(self, n: int) -> "FeatureDataset":
        return FeatureDataset(self.images[:n], self.labels[:n], self.classes, self.name, self._domain)


def _split(x: np.ndarray, y: np.ndarray, split: str, train_share: float = 0.8):
    """(x, y) of ``split`` and the training split's per-feature std (the domain's ``scale``)."""
    if split not in ("train", "test"):
        raise ValueError(f"expected split 'train' or 'test', got {split!r}")
    perm = np.random.default_rng(0).permutation(len(y))
    cut = int(round(train_share * len(y)))
    idx = perm[:cut] if split == "train" else perm[cut:]
    scale = np.maximum(x[perm[:cut]].astype(np.float64).std(axis=0, ddof=1), 1e-3)
    return torch.from_numpy(x[idx]), torch.from_numpy(y[idx]), [float(v) for v in scale]


def _file(root: Optional[str], default: str, name: str) -> Path:
    path = Path(root) / name if root is not None else Path(default) / name
    if not path.is_file():
        raise ValueError(f"expected {path} (pass --data-root, or run `make data-malware`), found none")
    return path


def spambase_domain(names: Optional[List[str]] = None, scale: Optional[List[float]] = None) -> FeatureDomain:
    d = SPAM_WORDS + SPAM_CHARS
    lower = [0.0] * d + [1.0, 1.0, 1.0]
    upper = [100.0] * d + [1e4, 1e5, 1e6]
    kinds = ["real"] * (d + 1) + ["integer", "integer"]
    return FeatureDomain(lower, upper, kinds, direction=[1] * (d + 3), names=names, norm="Linf",
                         scale=scale)


@register_dataset("spambase", domains=("feature",))
def spambase(root: Optional[str] = None, split: str = "train") -> FeatureDataset:
    """UCI Spambase from ``root/spambase.data`` (default ``data/malware/spambase``)."""
    path = _file(root, "data/malware/spambase", "spambase.data")
    data = np.loadtxt(path, delimiter=",", dtype=np.float64, ndmin=2)
    if data.shape[1] != 58:
        raise ValueError(f"expected 58 comma-separated columns (57 features, label) in {path}, got {data.shape[1]}")
    x, y, scale = _split(data[:, :57].astype(np.float32), data[:, 57].astype(np.int64), split)
    return FeatureDataset(x, y, ["nonspam", "spam"], "spambase", spambase_domain(scale=scale))


PHISHING_COLUMNS = ["empty_server_form_handler", "popup_window", "https", "request_from_other_domain",
                    "anchor_from_other_domain", "is_popular", "long_url", "age_of_domain", "ip_in_url"]


def phishing_domain(scale: Optional[List[float]] = None) -> FeatureDomain:
    kinds = ["integer"] * 7 + ["binary", "binary"]
    mutable = [name not in ("is_popular", "age_of_domain") for name in PHISHING_COLUMNS]
    return FeatureDomain([0.0] * 9, [2.0] * 7 + [1.0, 1.0], kinds, mutable=mutable, names=PHISHING_COLUMNS,
                         norm="Linf", scale=scale)


@register_dataset("phishing", domains=("feature",))
def phishing(root: Optional[str] = None, split: str = "train") -> FeatureDataset:
    """Phishing websites from ``root/phishing.csv.gz`` (river's file; default ``data/malware/phishing``)."""
    path = _file(root, "data/malware/phishing", "phishing.csv.gz")
    with gzip.open(path, "rt", newline="") as f:
        rows = list(csv.reader(f))
    header, rows = rows[0], rows[1:]
    if header != PHISHING_COLUMNS + ["is_phishing"]:
        raise ValueError(f"expected the columns {', '.join(PHISHING_COLUMNS)}, is_phishing in {path}, got {header}")
    data = np.asarray(rows, dtype=np.float64)
    x = data[:, :9].copy()
    x[:, :7] *= 2  # 0 / 0.5 / 1 → the integer levels 0 / 1 / 2
    x, y, scale = _split(x.astype(np.float32), data[:, 9].astype(np.int64), split)
    return FeatureDataset(x, y, ["legitimate", "phishing"], "phishing", phishing_domain(scale))


def convert_spam_rda(src: str | Path, dst: str | Path) -> Path:
    """kernlab's ``spam.rda`` (R data, read with the PyPI package rdata) → UCI ``spambase.data``."""
    try:
        import rdata
    except ImportError:
        raise ImportError("converting spam.rda needs the PyPI package rdata: pip install rdata") from None
    frame = rdata.conversion.convert(rdata.parser.parse_file(str(src)))["spam"]
    x = frame.iloc[:, :57].to_numpy(dtype=np.float64)
    y = (frame.iloc[:, 57].astype(str) == "spam").to_numpy().astype(int)
    lines = [",".join(f"{v:g}" for v in row) + f",{label}\n" for row, label in zip(x, y)]
    write_text_atomic(Path(dst), "".join(lines), shared=True)
    return dst
