"""Corruption accuracy, corruption error (CE), mCE and relative mCE of a classifier.

Hendrycks & Dietterich (ICLR 2019), Sec. 3: with E_{s,c} the top-1 error at severity s of
corruption c, CE_c = Σ_s E_{s,c} / Σ_s E^base_{s,c} (ImageNet convention; the baseline is any
``CorruptionResult`` the user passes, AlexNet is not hard-coded), mCE = mean of CE_c over the 15
benchmark corruptions; relative CE_c = Σ_s (E_{s,c} − E_clean) / Σ_s (E^base_{s,c} − E^base_clean).
The CIFAR convention reports the unnormalized mean error, mean_{s,c} E_{s,c}.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from torch import nn

from .._model import batched_logits, check_classifier, model_device, model_state
from .._plot import new_axes
from .._progress import Progress, progress_bar
from ..data.base import as_dataset
from .base import BENCHMARK_CORRUPTIONS, check_severities, known
from .export import corrupted_blocks


def _nan_to_none(v: float):
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


@dataclass
class CorruptionResult:
    """Accuracies (fractions in [0, 1]) of one model on clean and corrupted data."""

    clean_accuracy: float
    accuracy: Dict[str, Dict[int, float]]  # accuracy[corruption][severity]
    n: int = 0
    dataset: str = ""
    seed: int = 0
    baseline: Optional["CorruptionResult"] = field(default=None, repr=False)
    meta: Dict[str, object] = field(default_factory=dict)  # e.g. where synonym_swap's synonyms came from

    @property
    def corruptions(self) -> List[str]:
        return list(self.accuracy)

    @property
    def severities(self) -> List[int]:
        return sorted({s for row in self.accuracy.values() for s in row})

    def error(self, name: str, severity: int) -> float:
        return 1.0 - self.accuracy[name][severity]

    @property
    def mean_per_corruption(self) -> Dict[str, float]:
        return {c: float(np.mean(list(row.values()))) for c, row in self.accuracy.items()}

    @property
    def mean_per_severity(self) -> Dict[int, float]:
        return {s: float(np.mean([row[s] for row in self.accuracy.values() if s in row]))
                for s in self.severities}

    @property
    def mean_accuracy(self) -> float:
        """Mean corruption accuracy over every evaluated corruption and severity."""
        return float(np.mean([a for row in self.accuracy.values() for a in row.values()]))

    def _benchmark(self, other: Optional["CorruptionResult"] = None) -> List[str]:
        names = [c for c in BENCHMARK_CORRUPTIONS if c in self.accuracy
                 and (other is None or c in other.accuracy)]
        return names or [c for c in self.accuracy if other is None or c in other.accuracy]

    @property
    def error_sum(self) -> Dict[str, float]:
        """Σ_s E_{s,c} per corruption: the unnormalized corruption error (numerator of CE_c)."""
        return {c: float(sum(1 - a for a in row.values())) for c, row in self.accuracy.items()}

    @property
    def mean_error(self) -> float:
        """CIFAR convention: unnormalized mean error over the benchmark corruptions and severities."""
        return float(np.mean([self.error(c, s) for c in self._benchmark() for s in self.accuracy[c]]))

    def ce(self, baseline: Optional["CorruptionResult"] = None, relative: bool = False) -> Dict[str, float]:
        """CE_c (or relative CE_c) against ``baseline`` (default: the stored one), over shared severities."""
        base = baseline if baseline is not None else self.baseline
        if base is None:
            raise ValueError("expected a baseline CorruptionResult for CE/mCE, got None")
        out = {}
        for c in self.accuracy:
            if c not in base.accuracy:
                continue
            sev = [s for s in self.accuracy[c] if s in base.accuracy[c]]
            num = sum(self.error(c, s) - (1 - self.clean_accuracy if relative else 0) for s in sev)
            den = sum(base.error(c, s) - (1 - base.clean_accuracy if relative else 0) for s in sev)
            out[c] = num / den if den != 0 else float("nan")
        return out

    def mce(self, baseline: Optional["CorruptionResult"] = None, relative: bool = False) -> float:
        """Mean CE over the benchmark corruptions present in both results (1.0 = the baseline).

        A CE_c is undefined where the baseline's denominator is 0 (relative: the corruption does not
        raise the baseline's error above its clean error); such corruptions are left out of the mean
        (``undefined_ce`` names them), and with none left the mean is NaN."""
        base = baseline if baseline is not None else self.baseline
        ce = self.ce(base, relative)
        values = [ce[c] for c in self._benchmark(base) if not math.isnan(ce[c])]
        return float(np.mean(values)) if values else float("nan")

    def undefined_ce(self, baseline: Optional["CorruptionResult"] = None, relative: bool = False) -> List[str]:
        """Benchmark corruptions whose CE_c (relative CE_c) is undefined, left out of the mCE."""
        base = baseline if baseline is not None else self.baseline
        ce = self.ce(base, relative)
        return [c for c in self._benchmark(base) if math.isnan(ce[c])]

    def to_dict(self) -> dict:
        d = {
            "dataset": self.dataset, "n": self.n, "seed": self.seed,
            "clean_accuracy": _nan_to_none(float(self.clean_accuracy)),
            "accuracy": {c: {str(s): float(a) for s, a in row.items()} for c, row in self.accuracy.items()},
            "mean_per_corruption": self.mean_per_corruption,
            "mean_per_severity": {str(s): a for s, a in self.mean_per_severity.items()},
            "mean_accuracy": self.mean_accuracy,
            "mean_error": self.mean_error,
            "error_sum": self.error_sum,
        }
        if self.meta:
            d["meta"] = dict(self.meta)
        if self.baseline is not None:
            d["ce"] = {c: _nan_to_none(v) for c, v in self.ce().items()}
            d["mce"] = _nan_to_none(self.mce())
            d["relative_ce"] = {c: _nan_to_none(v) for c, v in self.ce(relative=True).items()}
            d["relative_mce"] = _nan_to_none(self.mce(relative=True))
        return d

    def to_markdown(self) -> str:
        """A corruption × severity accuracy table (%) with means, CE when a baseline is set."""
        sev = self.severities
        ce = self.ce() if self.baseline is not None else None
        head = ["corruption"] + [f"s{s}" for s in sev] + ["mean"] + (["CE"] if ce else [])
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for c, row in self.accuracy.items():
            cells = [c] + [f"{100 * row[s]:.1f}" if s in row else "" for s in sev]
            cells.append(f"{100 * self.mean_per_corruption[c]:.1f}")
            if ce:
                cells.append(f"{100 * ce[c]:.1f}" if c in ce else "")
            lines.append("| " + " | ".join(cells) + " |")
        per_sev = self.mean_per_severity
        lines.append("| **mean** | " + " | ".join(f"{100 * per_sev[s]:.1f}" for s in sev)
                     + f" | {100 * self.mean_accuracy:.1f} |" + (" |" if ce else ""))
        lines.append("")
        lines.append(f"clean accuracy {100 * self.clean_accuracy:.1f}%, mean corruption accuracy "
                     f"{100 * self.mean_accuracy:.1f}%, mean error {100 * self.mean_error:.1f}%"
                     + (f", {self._mce_text(False)}, {self._mce_text(True)}" if ce else ""))
        return "\n".join(lines)

    def _mce_text(self, relative: bool) -> str:
        """``mCE 96.3%`` with the corruptions left out named (their baseline CE is undefined)."""
        name = "relative mCE" if relative else "mCE"
        value, left_out = self.mce(relative=relative), self.undefined_ce(relative=relative)
        why = ("the baseline's error does not rise above its clean error" if relative
               else "the baseline makes no error")
        if math.isnan(value):
            return f"{name} undefined ({why} on any corruption)"
        return f"{name} {100 * value:.1f}%" + (f" (without {', '.join(left_out)}: {why} there)" if left_out else "")

    def plot(self, ax=None):
        """Heat map of accuracy (corruption rows × severity columns); returns the Axes."""
        ax = new_axes(ax, figsize=(1.2 * len(self.severities) + 3, 0.35 * len(self.accuracy) + 1.5))
        sev = self.severities
        grid = np.array([[row.get(s, np.nan) for s in sev] for row in self.accuracy.values()])
        im = ax.imshow(grid, vmin=0, vmax=1, cmap="viridis", aspect="auto")
        ax.set_xticks(range(len(sev)), [str(s) for s in sev])
        ax.set_yticks(range(len(self.accuracy)), list(self.accuracy))
        ax.set_xlabel("severity")
        ax.set_title(f"corruption accuracy (clean {100 * self.clean_accuracy:.1f}%)")
        for i in range(grid.shape[0]):
            for j in range(grid.shape[1]):
                if not np.isnan(grid[i, j]):
                    ax.text(j, i, f"{100 * grid[i, j]:.0f}", ha="center", va="center",
                            color="white" if grid[i, j] < 0.6 else "black", fontsize=7)
        ax.figure.colorbar(im, ax=ax, fraction=0.04)
        return ax


def _correct(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int, device) -> int:
    return int((batched_logits(model, x, batch_size, device).argmax(1) == y.to(x.device)).sum())


def evaluate_corruptions(
    model: nn.Module,
    dataset,
    corruptions: Optional[Sequence[str]] = None,
    severities: Sequence[int] = (1, 2, 3, 4, 5),
    seed: int = 0,
    batch_size: int = 512,
    baseline: Optional[CorruptionResult] = None,
    device=None,
    progress: Progress = None,
    clean_accuracy: Optional[float] = None,
) -> CorruptionResult:
    """Accuracy of ``model`` on ``dataset`` (an ``ArrayDataset`` or an (x, y) pair: the clean
    test set) corrupted on the fly.

    Images are corrupted on ``device`` (default: the model's) in 256-image blocks with the same
    seeded streams as ``export_corrupted``, so the same seed gives the same corrupted images.
    ``baseline`` (another result) enables CE, mCE and relative mCE. ``progress``: None (a bar on a
    terminal), a bool, or a callback told of each corruption × severity done. ``clean_accuracy``:
    the model's accuracy on this same dataset when the caller already has it (not recomputed).
    """
    names, sev = known(corruptions), check_severities(severities)
    dataset = as_dataset(dataset)
    check_classifier(model, *dataset.get_batch(torch.arange(min(len(dataset), 8))))
    dev = torch.device(device) if device is not None else model_device(model)
    n = len(dataset)
    with model_state(model, train=False), progress_bar(len(names) * len(sev), "corruptions", progress) as bar:
        x, y = dataset.get_batch(torch.arange(n))
        clean = _correct(model, x, y, batch_size, dev) / n if clean_accuracy is None else float(clean_accuracy)
        acc: Dict[str, Dict[int, float]] = {}
        for name in names:
            acc[name] = {}
            for s in sev:
                hits = sum(_correct(model, xc, yc, batch_size, dev)
                           for _, xc, yc in corrupted_blocks(dataset, name, s, seed, dev))
                acc[name][s] = hits / n
                bar.update(1)
    return CorruptionResult(clean, acc, n, getattr(dataset, "name", ""), int(seed), baseline)


def evaluate_corruptions_folder(
    model: nn.Module,
    root,
    corruptions: Optional[Sequence[str]] = None,
    severities: Optional[Sequence[int]] = None,
    batch_size: int = 512,
    baseline: Optional[CorruptionResult] = None,
    device=None,
    clean_dataset=None,
) -> CorruptionResult:
    """Accuracy of ``model`` on a -C folder written by ``export_corrupted`` (or CIFAR-10-C itself).

    Reads ``<name>.npy`` (memory-mapped, (S·N)×H×W×C uint8, severity-major) and ``labels.npy``;
    ``meta.json`` gives N and the severities when present (else N = 10000 / 5 severities, the
    CIFAR-10-C files). Corruptions default to every ``<name>.npy`` found, in the paper's order.
    Clean accuracy comes from ``clean_dataset`` when given, else it is reported as NaN.
    """
    root = Path(root)
    meta = _read_meta(root)
    if not (root / "labels.npy").is_file():
        raise FileNotFoundError(f"expected labels.npy in the -C folder {root}, found none")
    labels = np.load(root / "labels.npy", mmap_mode="r", allow_pickle=False)
    file_sev = meta.get("severities", [1, 2, 3, 4, 5])
    n = meta.get("n", len(labels) // len(file_sev))
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"{root / 'meta.json'}: expected 'n' a positive integer, got {n!r}")
    sev = check_severities(severities if severities is not None else file_sev)
    missing = [s for s in sev if s not in file_sev]
    if missing:
        raise ValueError(f"expected severities among {file_sev} in {root}, got {missing}")
    if corruptions is None:
        names = [c for c in known(None) if (root / f"{c}.npy").exists()]
    else:
        names = known(corruptions)
    absent = [c for c in names if not (root / f"{c}.npy").exists()]
    if absent or not names:
        wanted = ", ".join(f"{c}.npy" for c in absent) or "<corruption>.npy files"
        raise ValueError(f"expected {wanted} in {root}")
    _check_folder(root, meta, names, file_sev, n, labels, clean_dataset)
    dev = torch.device(device) if device is not None else model_device(model)
    with model_state(model, train=False):
        clean = float("nan")
        if clean_dataset is not None:
            xc, yc = clean_dataset.get_batch(torch.arange(len(clean_dataset)))
            clean = _correct(model, xc, yc, batch_size, dev) / len(clean_dataset)
        acc: Dict[str, Dict[int, float]] = {}
        for name in names:
            arr = np.load(root / f"{name}.npy", mmap_mode="r")
            acc[name] = {}
            for s in sev:
                off = file_sev.index(s) * n
                hits = 0
                for i in range(0, n, batch_size):
                    j = min(i + batch_size, n)
                    x = torch.from_numpy(np.array(arr[off + i: off + j]))
                    x = x.permute(0, 3, 1, 2).float().div_(255)
                    y = torch.from_numpy(np.array(labels[off + i: off + j], dtype=np.int64))
                    hits += _correct(model, x, y, batch_size, dev)
                acc[name][s] = hits / n
    return CorruptionResult(clean, acc, n, meta.get("name", root.name), int(meta.get("seed", 0)), baseline)


def _read_meta(root: Path) -> dict:
    path = root / "meta.json"
    if not path.exists():
        return {}
    try:
        meta = json.loads(path.read_text())
    except ValueError as e:
        raise ValueError(f"{path} is not valid JSON ({e})") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{path}: expected a JSON object, got a JSON {type(meta).__name__}")
    return meta


def _check_folder(root: Path, meta: dict, names: Sequence[str], file_sev: Sequence[int], n: int, labels,
                  clean_dataset) -> None:
    """The -C folder must agree with its ``meta.json`` and with the clean test set it is compared to:
    otherwise rows past the end read as nothing and the accuracy is silently 0 or of other images."""
    k = len(file_sev)
    for name in names:
        arr = np.load(root / f"{name}.npy", mmap_mode="r", allow_pickle=False)
        if arr.dtype != np.uint8 or arr.ndim != 4 or arr.shape[0] != k * n:
            raise ValueError(f"{root / (name + '.npy')}: expected uint8 of shape ({k}·{n})×H×W×C ({k} severities × "
                             f"n = {n} from meta.json), got {arr.dtype} of shape {arr.shape}")
    if labels.ndim != 1 or labels.shape[0] not in (n, k * n) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{root / 'labels.npy'}: expected {n} or {k * n} int labels, got {labels.dtype} of "
                         f"shape {labels.shape}")
    classes = meta.get("classes")
    n_classes = len(classes) if isinstance(classes, list) and classes else None
    if clean_dataset is not None:
        n_classes = min(n_classes or clean_dataset.num_classes, clean_dataset.num_classes)
    lo, hi = (int(labels.min()), int(labels.max())) if labels.size else (0, 0)
    if lo < 0 or (n_classes is not None and hi >= n_classes):
        raise ValueError(f"{root / 'labels.npy'}: expected labels in [0, {n_classes}), got [{lo}, {hi}]")
    if clean_dataset is not None:
        if len(clean_dataset) != n:
            raise ValueError(f"{root} holds {n} images per severity, the clean test set {len(clean_dataset)}: "
                             "compare sets of the same images (e.g. the same --n for `corrupt` and `eval`)")
        _, y_clean = clean_dataset.get_batch(torch.arange(n))
        if not np.array_equal(np.asarray(labels[:n], dtype=np.int64), y_clean.numpy()):
            raise ValueError(f"{root / 'labels.npy'}: the labels differ from the clean test set's; the folder was "
                             "made from other images")
