"""The pieces every audit section shares: findings, tables, figures, the section registry, the context.

A section is one registered unit (``@register_section``) with a title, a plain-language
explanation, a step count for its progress bar, and ``run(ctx) -> SectionOutput``. The audit
(``audit.py``) owns the flow: it times each section, catches its error, and records its
configuration, so a section only measures and judges.
"""
from __future__ import annotations

import io
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn

from .._plot import figure_of, pyplot
from .._registry import Registry
from .budget import Budget

SEVERITIES = ("pass", "warn", "fail")


@dataclass
class Finding:
    """One verdict of the audit: ``severity`` pass / warn / fail and the reason in one sentence."""

    section: str
    id: str
    severity: str
    title: str
    reason: str

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"expected severity one of {', '.join(SEVERITIES)}, got {self.severity!r}")

    def to_dict(self) -> Dict[str, str]:
        return asdict(self)


@dataclass
class Table:
    """A small table for the report; ``best`` marks the best cells of each row (compare tables)."""

    title: str
    columns: List[str]
    rows: List[List[Any]]
    best: Optional[List[List[int]]] = None  # per row: column indices of the best cells (ties: all)

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)


@dataclass
class Figure:
    """A rendered PNG (bytes) with its file stem and caption."""

    name: str
    caption: str
    png: bytes = field(repr=False)


@dataclass
class SectionOutput:
    """What a section hands back: headline metrics (JSON numbers), tables, figures, findings and
    the curves (x/y lists) that ``compare`` overlays across models."""

    metrics: Dict[str, Any] = field(default_factory=dict)
    tables: List[Table] = field(default_factory=list)
    figures: List[Figure] = field(default_factory=list)
    findings: List[Finding] = field(default_factory=list)
    curves: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    config: Dict[str, Any] = field(default_factory=dict)


@dataclass
class SectionResult:
    """A section as recorded by the audit: status ok / error / skipped, timing and the output."""

    name: str
    title: str
    status: str
    explanation: str
    config: Dict[str, Any]
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # process CPU time (all threads): the honest cost on a loaded machine
    error: Optional[str] = None
    output: SectionOutput = field(default_factory=SectionOutput)


@dataclass
class Section:
    name: str
    title: str
    explanation: str
    run: Callable[["AuditContext"], SectionOutput]
    steps: Callable[[Budget], int]


SECTIONS: Registry[Section] = Registry("audit section")


def register_section(name: str, title: str, explanation: str, steps: Callable[[Budget], int] = lambda b: 1):
    """Decorator: register ``run(ctx) -> SectionOutput`` as an audit section (in definition order)."""

    def decorator(fn):
        SECTIONS.register(name)(Section(name, title, " ".join(explanation.split()), fn, steps))
        return fn

    return decorator


class _NullBar:
    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, s: str) -> None:
        pass


@dataclass
class AuditContext:
    """Everything a section may use: the model, the audit data, the budget and the chosen ε."""

    model: nn.Module
    dataset: Any  # ArrayDataset (corruptions need get_batch / len / name)
    classes: List[str]
    in_shape: Tuple[int, ...]
    num_classes: int
    budget: Budget
    eps: float
    seed: int = 0
    clean: Optional[Tuple[torch.Tensor, torch.Tensor]] = None  # a few clean samples (Neural Cleanse)
    correct: Optional[torch.Tensor] = None  # per audit image: clean prediction right (computed once)
    bar: Any = field(default_factory=_NullBar)

    def tensors(self) -> Tuple[torch.Tensor, torch.Tensor]:
        return self.dataset.tensors()

    def subset_index(self, n: Optional[int]) -> torch.Tensor:
        """Indices of ``n`` audit images drawn by a seeded permutation (all when ``n`` is None)."""
        total = len(self.dataset)
        if n is None or n >= total:
            return torch.arange(total)
        g = torch.Generator().manual_seed(self.seed)
        return torch.randperm(total, generator=g)[:n].sort().values

    def subset(self, n: Optional[int]) -> Tuple[torch.Tensor, torch.Tensor]:
        """``n`` audit images drawn by a seeded permutation (all of them when ``n`` is None)."""
        x, y = self.tensors()
        idx = self.subset_index(n)
        return (x, y) if idx.numel() == x.shape[0] else (x[idx], y[idx])

    def clean_accuracy(self, idx: torch.Tensor) -> float:
        """Clean accuracy on the audit images ``idx``, from the predictions made once per audit."""
        return float(self.correct[idx].float().mean()) if idx.numel() else 0.0

    def tick(self, what: str = "") -> None:
        if what:
            self.bar.set_postfix_str(what)
        self.bar.update(1)

    def advance(self, units_per_step: float, what: str = ""):
        """A progress callback for a library loop: ``units_per_step`` of its units make one of this
        section's steps (e.g. the points of one attack run)."""
        if what:
            self.bar.set_postfix_str(what)
        return lambda n: self.bar.update(n / units_per_step)


def render(fig) -> bytes:
    """A matplotlib Figure (or what a ``plot`` returned: Axes, arrays of them) as PNG bytes; the
    figure is closed."""
    fig = fig if hasattr(fig, "savefig") else figure_of(fig)
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    finally:
        pyplot().close(fig)
    return buf.getvalue()


def new_figure(ncols: int = 1, size: Tuple[float, float] = (5.0, 3.6)):
    """(fig, axes list) on the Agg backend when no backend was chosen."""
    fig, axes = pyplot().subplots(1, ncols, figsize=(size[0] * ncols, size[1]))
    return fig, (list(axes) if ncols > 1 else [axes])


def fmt(v: Any, digits: int = 4) -> str:
    """A number for a table cell (``-`` for missing)."""
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.{digits}g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.2e}"
    return str(v)


def pct(v: Optional[float]) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def worst(severities: Sequence[str]) -> str:
    """The most severe of ``severities`` (``pass`` for none)."""
    return max(severities, key=SEVERITIES.index, default="pass")
