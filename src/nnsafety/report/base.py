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

# "info": a measurement stated with its rule of thumb, which never changes the verdict (a rule that
# fires on every clean model is not a finding; see the spectral and margin findings).
SEVERITIES = ("info", "pass", "warn", "fail")
VERDICTS = ("pass", "warn", "fail")


@dataclass
class Finding:
    """One verdict of the audit: ``severity`` info / pass / warn / fail and the reason in one
    sentence; ``info`` findings inform and never change the verdict."""

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


def register_section(name: str, title: str, explanation: str, steps: Callable[[Budget], int] = lambda b: 1,
                     domains: Sequence[str] = ("image",)):
    """Decorator: register ``run(ctx) -> SectionOutput`` as an audit section (in definition order);
    ``domains`` names the input domains (``nnsafety.domains``) whose models the section can audit."""

    def decorator(fn):
        SECTIONS.register(name, domains)(Section(name, title, " ".join(explanation.split()), fn, steps))
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
    logits: Optional[torch.Tensor] = None  # per audit input: the model's logits (predicted once per audit)
    domain: Any = None  # the audit data's input domain (nnsafety.domains); None: images in [0, 1]
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

    @property
    def correct(self) -> torch.Tensor:
        """Per audit input: is the clean prediction right (from the predictions made once per audit)."""
        return self.logits.argmax(1) == self.dataset.tensors()[1] if self.logits is not None and self.logits.numel() \
            else torch.zeros(0, dtype=torch.bool)

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


def sparse_ticks(ax, values, min_gap: float = 0.06) -> None:
    """ε ticks at the measured values, dropping any closer than ``min_gap`` of the axis range to the
    last kept one (0, 0.01, 0.02 ... piled up into one unreadable label)."""
    vals = sorted(set(float(v) for v in values))
    span = (vals[-1] - vals[0]) or 1.0
    kept = []
    for v in vals:
        if not kept or (v - kept[-1]) / span >= min_gap:
            kept.append(v)
    ax.set_xticks(kept)
    ax.set_xticklabels([f"{v:g}" for v in kept])


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
    """The most severe of ``severities`` that can change a verdict (``pass`` for none; ``info``
    findings are left out)."""
    return max((s for s in severities if s != "info"), key=SEVERITIES.index, default="pass")


def section_badge(status: str, findings: Sequence[Any]) -> str:
    """What a section's badge shows: its worst finding (pass / warn / fail; ``info`` when it has
    only informational ones) when it ran, else its status (error / skipped). A section that ran
    is never shown "ok" beside a failing finding."""
    if status != "ok":
        return status
    sev = [f["severity"] if isinstance(f, dict) else f.severity for f in findings]
    if sev and all(s == "info" for s in sev):
        return "info"
    return worst(sev)
