"""The backdoor-detector registry, the one result type, and what each detector may be given.

A detector is a small class: the constructor stores and validates its settings (published
defaults), ``detect(model, ctx)`` returns a ``DetectionResult``. ``DetectionContext`` carries what
the caller has — input shape and class count always, a few clean samples or the (possibly
poisoned) training set when available — and each detector states in ``needs`` which of them it
uses, so a zoo evaluation can report "weights only / a few clean samples / the training set".
Scores are oriented so that higher means "more likely backdoored".
"""
from __future__ import annotations

import inspect
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn

from ..._model import model_state
from ...domains import Domain, require_domain
from ..._registry import Registry

DETECTORS: Registry[type] = Registry("detector")
NEEDS = ("weights only", "a few clean samples", "the training set")


register_detector = DETECTORS.register_named


@dataclass
class DetectionContext:
    """What a detector may use besides the weights. ``clean`` = (x, y) of a few clean samples;
    ``train`` = the training set (x, y) as the model saw it, for data-level detectors."""

    in_shape: Tuple[int, ...]
    num_classes: int
    clean: Optional[Tuple[torch.Tensor, torch.Tensor]] = None
    train: Optional[Tuple[torch.Tensor, torch.Tensor]] = None
    poisoned_indices: Optional[torch.Tensor] = None  # ground truth, only for scoring data-level detectors
    seed: int = 0
    domain: Optional[Domain] = None  # the inputs' domain (None: images); a detector refuses others
    vocab: Optional[Sequence[str]] = None  # a text model's tokens by id (lexical priors need the words)


@dataclass
class DetectionResult:
    """One detector's answer for one model (JSON-ready through ``to_dict``)."""

    detector: str
    score: float
    threshold: float
    backdoored: bool
    target_class: Optional[int]
    seconds: float
    needs: str
    details: Dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        verdict = "BACKDOORED" if self.backdoored else "clean"
        tgt = f", suspected target class {self.target_class}" if self.backdoored and self.target_class is not None else ""
        msg = f"\n  {self.details['message']}" if isinstance(self.details.get("message"), str) else ""  # the scan's
        return (f"{self.detector}: {verdict} (score {self.score:.3f}, threshold {self.threshold:g}{tgt}; "
                f"{self.seconds:.2f} s; needs {self.needs}){msg}")


class NotApplicable(ValueError):
    """The detector cannot judge this model (a prior that does not fit its task, e.g. a sentiment
    lexicon on a 5-class model): ``nnsafety detect RUN`` with ``--method all`` skips it and says why;
    named on its own it is the usual one-line error."""


class Detector:
    """Base class: subclasses set ``needs``/``threshold`` and implement ``_detect``."""

    name = "detector"
    needs = "weights only"
    threshold = 0.5

    def detect(self, model: nn.Module, ctx: DetectionContext) -> DetectionResult:
        require_domain(ctx.domain, self.domains, f"detector {self.name!r}")
        if self.needs == "a few clean samples" and ctx.clean is None and not getattr(self, "data_free", False):
            raise ValueError(f"detector {self.name!r} needs a few clean samples (ctx.clean), got none")
        if self.needs == "the training set" and ctx.train is None:
            raise ValueError(f"detector {self.name!r} needs the training set (ctx.train), got none")
        t0 = time.perf_counter()
        with model_state(model, train=False):
            score, target, details = self._detect(model, ctx)
        seconds = time.perf_counter() - t0
        needs = "weights only" if getattr(self, "data_free", False) else self.needs
        return DetectionResult(detector=self.name, score=float(score), threshold=float(self.threshold),
                               backdoored=bool(score >= self.threshold), target_class=target,
                               seconds=round(seconds, 4), needs=needs, details=details)

    def _detect(self, model: nn.Module, ctx: DetectionContext) -> Tuple[float, Optional[int], Dict[str, Any]]:
        raise NotImplementedError

    def hparams(self) -> Dict[str, Any]:
        params = inspect.signature(type(self).__init__).parameters
        return {k: getattr(self, k) for k in params if k != "self" and hasattr(self, k)}


def create_detector(name: str, **kwargs) -> Detector:
    return DETECTORS.create(name, "setting", **kwargs)


def list_detectors(domain: Optional[str] = None) -> List[str]:
    """Registered detectors; with ``domain`` (e.g. "image", "token"), those that support it."""
    return DETECTORS.names(domain)


def mad_anomaly(values: torch.Tensor) -> torch.Tensor:
    """MAD anomaly index per entry: |v − median| / (1.4826·MAD) (Neural Cleanse's outlier rule;
    1.4826 makes the MAD a consistent estimator of σ for normal data)."""
    v = values.double()
    med = v.quantile(0.5)  # the mean of the two middle values for even counts, as np.median
    mad = (v - med).abs().quantile(0.5).clamp_min(1e-12)
    return (v - med).abs() / (1.4826 * mad)
