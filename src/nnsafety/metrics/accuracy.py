"""Clean accuracy, loss and calibration (ECE, reliability diagram, temperature scaling) of a classifier."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional

import math

import torch
import torch.nn.functional as F
from torch import nn

from .._model import check_classifier, predict_logits
from ..data.base import as_dataset
from .._plot import new_axes


def expected_calibration_error(
    probs: torch.Tensor, labels: torch.Tensor, n_bins: int = 15
) -> tuple[float, List[dict]]:
    """ECE with equal-width confidence bins (Guo et al. 2017, 15 bins).

    ECE = Σ_b (|B_b| / N) · |acc(B_b) − conf(B_b)|, where B_b holds the samples whose top-1
    confidence falls in ((b−1)/n_bins, b/n_bins]. Returns the ECE and the per-bin table
    (the reliability diagram's data).
    """
    if probs.shape[0] == 0:
        return 0.0, []
    conf, pred = probs.max(dim=1)
    correct = (pred == labels).to(probs.dtype)
    # bucketize(right=False) gives edges[b] < conf <= edges[b+1]: right-closed bins, so a
    # confidence of exactly 1.0 lands in the last bin.
    edges = torch.linspace(0, 1, n_bins + 1, dtype=probs.dtype, device=probs.device)
    bins = torch.bucketize(conf, edges[1:-1], right=False)
    count = torch.bincount(bins, minlength=n_bins).to(probs.dtype)
    sum_conf = torch.zeros(n_bins, dtype=probs.dtype, device=probs.device).index_add_(0, bins, conf)
    sum_acc = torch.zeros(n_bins, dtype=probs.dtype, device=probs.device).index_add_(0, bins, correct)
    nonempty = count > 0
    gap = (sum_acc - sum_conf).abs()
    ece = float(gap[nonempty].sum() / probs.shape[0])
    table = [
        {
            "lower": float(edges[b]),
            "upper": float(edges[b + 1]),
            "count": int(count[b]),
            "accuracy": float(sum_acc[b] / count[b]) if count[b] > 0 else None,
            "confidence": float(sum_conf[b] / count[b]) if count[b] > 0 else None,
        }
        for b in range(n_bins)
    ]
    return ece, table


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor, bounds: tuple = (1e-2, 1e2), tol: float = 1e-6) -> float:
    """Temperature T minimising the NLL of ``softmax(logits / T)`` (Guo et al. 2017, temperature scaling).

    The NLL is convex in β = 1/T, hence unimodal in log β: a golden-section search over
    log T ∈ log(``bounds``) finds the optimum to ``tol`` (relative) without step-size tuning.
    Returns a bound when the optimum lies beyond it (e.g. T → 0 for a model right on every sample).
    """
    if logits.shape[0] == 0:
        raise ValueError("expected at least one sample to fit a temperature, got 0")
    z, y = logits.double(), labels.to(logits.device)

    def nll(log_t: float) -> float:
        return float(F.cross_entropy(z * math.exp(-log_t), y))

    lo, hi = math.log(bounds[0]), math.log(bounds[1])
    r = (math.sqrt(5) - 1) / 2
    a, b = hi - r * (hi - lo), lo + r * (hi - lo)
    fa, fb = nll(a), nll(b)
    while hi - lo > tol:
        if fa <= fb:  # the minimum is in [lo, b]
            hi, b, fb = b, a, fa
            a = hi - r * (hi - lo)
            fa = nll(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + r * (hi - lo)
            fb = nll(b)
    return math.exp((lo + hi) / 2)


def cross_fitted_scaled_ece(logits: torch.Tensor, labels: torch.Tensor, n_bins: int = 15) -> Optional[float]:
    """ECE after temperature scaling, estimated honestly: T is fitted on one half (alternate samples)
    and applied to the other, both ways, and the ECE is computed over all held-out predictions.
    None for fewer than 2 samples."""
    idx = torch.arange(logits.shape[0])
    halves = [idx[0::2], idx[1::2]]
    if min(len(h) for h in halves) == 0:
        return None
    probs = torch.empty_like(logits, dtype=torch.float64)
    for fit, held in (halves, halves[::-1]):
        t = fit_temperature(logits[fit], labels[fit])
        probs[held] = (logits[held].double() / t).softmax(dim=1)
    return expected_calibration_error(probs, labels.to(probs.device), n_bins=n_bins)[0]


@dataclass
class ClassificationResult:
    """Accuracy, mean cross-entropy and ECE on a labelled set.

    ``temperature``: the temperature-scaling T fitted on this set (divide the logits by it);
    ``ece_scaled``: the ECE after temperature scaling, cross-fitted on two halves (not the
    optimistic in-sample value) — a high ``ece`` with a low ``ece_scaled`` is fixable post hoc.
    """

    accuracy: float
    loss: float
    ece: float
    n: int
    reliability: List[dict] = field(default_factory=list)
    temperature: Optional[float] = None
    ece_scaled: Optional[float] = None

    def to_dict(self) -> dict:
        return asdict(self)

    def plot(self, ax=None):
        """Reliability diagram: accuracy per confidence bin against the diagonal."""
        ax = new_axes(ax, figsize=(4, 4))
        bins = [b for b in self.reliability if b["count"] > 0]
        centers = [(b["lower"] + b["upper"]) / 2 for b in bins]
        width = bins[0]["upper"] - bins[0]["lower"] if bins else 0.1
        # a bin of 1-4 images says little: faded and hatched, and every bar carries its count, so a
        # zigzag of tiny bins is not read as miscalibration
        for few, style in ((False, {"color": "C0", "label": "accuracy"}),
                           (True, {"color": "#c9d7e8", "hatch": "//", "label": f"bins of < {FEW_IN_BIN} images"})):
            part = [(c, b) for c, b in zip(centers, bins) if (b["count"] < FEW_IN_BIN) == few]
            if part:
                ax.bar([c for c, _ in part], [b["accuracy"] for _, b in part], width=width, edgecolor="black",
                       **style)
        for c, b in zip(centers, bins):
            ax.text(c, min(b["accuracy"], 0.93) + 0.015, str(b["count"]), ha="center", va="bottom", fontsize=6)
        ax.plot([0, 1], [0, 1], "k--", label="perfect calibration")
        ax.set(xlim=(0, 1), ylim=(0, 1.05), xlabel="confidence (number on a bar: its images)", ylabel="accuracy")
        ax.set_title(f"ECE {self.ece:.3f}, accuracy {self.accuracy:.3f} ({self.n} images)", fontsize=9)
        ax.legend(loc="upper left", fontsize=7)
        return ax

    def reliability_curve(self, min_count: int = 10) -> Dict[str, List[float]]:
        """Accuracy against mean confidence over bins merged left to right until each holds at
        least ``min_count`` images (the last one takes the remainder): the line a comparison
        overlays, without the zigzag of bins of 1-3 images."""
        xs, ys, counts = [], [], []
        acc = conf = n = 0.0
        for b in self.reliability:
            if not b["count"]:
                continue
            acc += b["accuracy"] * b["count"]
            conf += b["confidence"] * b["count"]
            n += b["count"]
            if n >= min_count:
                xs.append(conf / n), ys.append(acc / n), counts.append(int(n))
                acc = conf = n = 0.0
        if n:  # the remainder joins the last point (or is the only one)
            if counts:
                m = counts[-1]
                xs[-1] = (xs[-1] * m + conf) / (m + n)
                ys[-1] = (ys[-1] * m + acc) / (m + n)
                counts[-1] = int(m + n)
            else:
                xs.append(conf / n), ys.append(acc / n), counts.append(int(n))
        return {"x": xs, "y": ys, "count": counts}


FEW_IN_BIN = 5  # reliability bins with fewer images are shown as unreliable


def evaluate(
    model: nn.Module,
    dataset,
    batch_size: int = 1024,
    device: Optional[torch.device] = None,
    n_bins: int = 15,
) -> ClassificationResult:
    """Accuracy, loss and ECE of ``model`` on a dataset (``.tensors()``) or an ``(x, y)`` pair."""
    data = as_dataset(dataset)
    x, y = data.tensors()
    check_classifier(model, x, y, getattr(data, "domain", None))  # token, feature and byte data are not images
    logits = predict_logits(model, x, batch_size=batch_size, device=device)
    return classification_result(logits, y, n_bins=n_bins)


def classification_result(logits: torch.Tensor, y: torch.Tensor, n_bins: int = 15) -> ClassificationResult:
    """Accuracy, loss and ECE from logits already computed (N×K) and their labels: what ``evaluate``
    reports, for callers that hold the predictions (the audit predicts once for every section)."""
    if logits.dim() != 2 or y.shape != logits.shape[:1]:
        raise ValueError(f"expected N×K logits and N labels, got {tuple(logits.shape)} and {tuple(y.shape)}")
    if logits.shape[0] == 0:
        raise ValueError("expected a non-empty dataset to evaluate, got 0 samples")
    logits = logits.float()
    y = y.to(logits.device)
    loss = float(F.cross_entropy(logits, y))
    probs = logits.softmax(dim=1)
    accuracy = float((probs.argmax(dim=1) == y).float().mean())
    ece, table = expected_calibration_error(probs.double(), y, n_bins=n_bins)
    return ClassificationResult(accuracy=accuracy, loss=loss, ece=ece, n=int(y.shape[0]), reliability=table,
                                temperature=fit_temperature(logits, y),
                                ece_scaled=cross_fitted_scaled_ece(logits, y, n_bins=n_bins))
