"""Noise-response analysis: how predictions change as a random perturbation grows (titration curve).

For each noise level the model sees ``n_probes`` perturbed inputs; we record accuracy (if labels),
mean top-1 confidence, flip rate vs the unperturbed prediction, mean predictive entropy and the
class histogram of predictions (the *titration curve*, overall and restricted to predictions with
confidence > γ). A model whose predictions collapse onto one class as the noise grows is flagged
with that class: the data-free backdoor signal (noise inputs trigger a trojaned class far more
often than they trigger any class of a clean model).

All levels are evaluated in one flat batch (probe i at level l is row l·n + i), chunked only to
bound memory, so a 30-level × 1000-probe sweep of a digits model is a handful of forward passes.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn

from .._model import batched_logits, check_classifier, model_device, model_state
from .._plot import pyplot
from .._random import make_generator, rand, randn
from .._registry import Registry
from .._validation import check_batch
from ..data.base import as_xy
from ..domains import Domain, ImageDomain
from ..models.inference import fast_inference
from ._common import trapezoid_auc

NoiseFn = Callable[..., torch.Tensor]  # (x, level, generator, project=clip01) -> perturbed x
NOISE_FAMILIES: Registry[NoiseFn] = Registry("noise family")
register_noise = NOISE_FAMILIES.register


def _per_sample(level: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return level.to(x.dtype).view(-1, *([1] * (x.dim() - 1)))


def _clip01(x: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
    return x.clamp_(0.0, 1.0)


@register_noise("gaussian", domains=("image", "feature"))
def gaussian_noise(x: torch.Tensor, level: torch.Tensor, generator: torch.Generator, project=_clip01) -> torch.Tensor:
    """x + σ·N(0, 1) projected onto the valid inputs (clipped to [0, 1] for images; a domain's
    ``project`` otherwise); ``level`` is σ per sample in the input's units."""
    noise = randn(x.shape, generator, x.device, x.dtype)
    return project(x + _per_sample(level, x) * noise, x)


@register_noise("uniform", domains=("image", "feature"))
def uniform_noise(x: torch.Tensor, level: torch.Tensor, generator: torch.Generator, project=_clip01) -> torch.Tensor:
    """x + U(-a, a) projected like ``gaussian``; ``level`` is the half-width a per sample."""
    noise = rand(x.shape, generator, x.device, x.dtype) * 2 - 1
    return project(x + _per_sample(level, x) * noise, x)


@register_noise("salt_and_pepper")
def salt_and_pepper_noise(x: torch.Tensor, level: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Each pixel (all channels together) replaced with probability ``level`` by 0 or 1 (even odds)."""
    pix_shape = (x.shape[0], 1, *x.shape[2:]) if x.dim() == 4 else x.shape
    u = rand(pix_shape, generator, x.device, x.dtype)
    salt = rand(pix_shape, generator, x.device, x.dtype) < 0.5
    hit = u < _per_sample(level, u)
    return torch.where(hit, salt.to(x.dtype).expand_as(x), x)


@register_noise("contrast")
def contrast_reduction(x: torch.Tensor, level: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Deterministic contrast loss: m + (1 - level)·(x - m), m the per-image per-channel mean.

    The ``contrast`` corruption of #3 ((x − m)·c + m) with a continuous c = 1 − level per sample.
    """
    if x.dim() != 4:
        m = x.mean(dim=1, keepdim=True)
        return m + (1 - _per_sample(level, x)) * (x - m)
    from ..corruptions.digital import contrast

    return contrast(x, (1 - _per_sample(level, x),), generator)


BLUR_SIGMA_PER_SIDE = 0.25  # level 1 blurs with σ = ¼ of the image side (2 px on 8×8, 8 px on 32×32)


@register_noise("blur")
def gaussian_blur(x: torch.Tensor, level: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Gaussian blur with σ = level·min(H, W)/4 pixels (level 0: the input itself).

    The ``gaussian_blur`` corruption of #3 (SciPy ``gaussian_filter``: truncate 4σ, edge pixels
    replicated) at a continuous σ: one H×H and one W×W filter matrix per distinct level (cached),
    applied to the whole batch as A_h[level] @ x @ A_w[level]ᵀ.
    """
    from ..corruptions import gaussian_matrix

    if x.dim() != 4:
        raise ValueError(f"expected N×C×H×W images for the blur family, got shape {tuple(x.shape)}")
    h, w = x.shape[-2:]
    sig = level.detach().to("cpu", torch.float64) * (BLUR_SIGMA_PER_SIDE * min(h, w))
    uniq, inv = torch.unique(sig, return_inverse=True)

    def mats(n: int) -> torch.Tensor:
        eye = torch.eye(n, dtype=torch.float64)
        return torch.stack([gaussian_matrix(n, float(v), "nearest", 4.0) if v > 0 else eye for v in uniq])

    a_h = mats(h).to(x.device, x.dtype)[inv.to(x.device)].unsqueeze(1)  # N×1×H×H
    a_w = mats(w).to(x.device, x.dtype)[inv.to(x.device)].unsqueeze(1)
    return torch.matmul(torch.matmul(a_h, x), a_w.transpose(-1, -2)).clamp_(0.0, 1.0)


@dataclass
class NoiseResponseResult:
    """Per-level curves (lists over ``levels``) and the ranking summaries of a noise sweep."""

    family: str
    levels: List[float]
    n_probes: int
    data_free: bool
    confidence_threshold: float
    accuracy: Optional[List[float]]
    mean_confidence: List[float]
    flip_rate: List[float]
    mean_entropy: List[float]
    class_fraction: List[List[float]]  # levels × classes: the titration curve
    confident_fraction: List[List[float]]  # same, only predictions with confidence > γ
    accuracy_auc: Optional[float]
    confidence_auc: float
    flip_auc: float
    half_accuracy_level: Optional[float]
    class_collapse: List[float]  # per class: mean over levels of confident_fraction[:, k]
    collapse_score: float
    collapse_class: int
    flagged: bool
    notes: List[str] = field(default_factory=list)
    collapse_threshold: float = 0.5  # flagged when collapse_score reaches it

    def to_dict(self) -> Dict:
        from dataclasses import asdict

        return asdict(self)

    @property
    def dominant_class(self) -> int:
        return self.collapse_class

    @property
    def rising_class(self) -> int:
        """The class whose share of predictions grows most above its noise-free share (the curve
        that rises in the titration plot); it need not be ``collapse_class``, which is scored on
        confident predictions over all levels, the noise-free one included."""
        frac = torch.tensor(self.class_fraction)
        return int((frac.max(0).values - frac[0]).argmax())

    def plot(self, ax=None):
        """Left: accuracy/confidence/flip curves; right: the titration curve (class fractions).

        Returns the axes drawn on, as matplotlib does for several panels: an array of the two
        Axes (a single Axes when one ``ax`` was given: the curves only).
        """
        if ax is None:
            _, axes = pyplot().subplots(1, 2, figsize=(10, 4))
        else:
            axes = ax if isinstance(ax, (list, tuple)) or hasattr(ax, "__len__") else [ax]
        a0 = axes[0]
        if self.accuracy is not None:
            a0.plot(self.levels, self.accuracy, label="accuracy")
        a0.plot(self.levels, self.mean_confidence, label="mean confidence")
        a0.plot(self.levels, self.flip_rate, label="flip rate")
        a0.set_xlabel(f"{self.family} noise level")
        a0.set_title(f"{self.n_probes} {'data-free probes' if self.data_free else 'images'}", fontsize=9)
        a0.set_ylim(0, 1.02)
        a0.legend(fontsize=8)
        if len(axes) > 1:
            a1 = axes[1]
            # the confident shares are what the collapse score averages: the thick curve is its class
            frac = torch.tensor(self.confident_fraction)
            for k in range(frac.shape[1]):
                lw = 2.5 if k == self.collapse_class else 1.0
                a1.plot(self.levels, frac[:, k].tolist(), lw=lw, label=str(k))
            a1.set_xlabel(f"{self.family} noise level")
            a1.set_ylabel(f"fraction predicted with confidence > {self.confidence_threshold:g}", fontsize=8)
            verdict = (f"≥ {self.collapse_threshold:g}: flagged" if self.flagged
                       else f"< {self.collapse_threshold:g}: not flagged")
            rise = self.rising_class
            a1.set_title(f"collapse score {self.collapse_score:.2f} for class {self.collapse_class} ({verdict})"
                         + ("" if rise == self.collapse_class else f"\nclass {rise} rises most with noise"),
                         fontsize=9)
            a1.legend(fontsize=6, ncol=2, title="class", title_fontsize=6)
        return axes if len(axes) > 1 else axes[0]


def _probes(
    model: nn.Module, x: Optional[torch.Tensor], y: Optional[torch.Tensor], n_probes: int,
    data_free_mode: str, in_shape: Optional[Sequence[int]], g: torch.Generator, domain: Optional[Domain] = None,
) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
    """Real samples (a random subset of at most ``n_probes``) or ``n_probes`` data-free base images."""
    if x is not None:
        check_batch(x, domain)
        if y is not None and y.shape[0] != x.shape[0]:
            raise ValueError(f"expected {x.shape[0]} labels, got {y.shape[0]}")
        if x.shape[0] > n_probes:
            idx = torch.randperm(x.shape[0], generator=g, device=g.device)[:n_probes].cpu()
            x = x[idx]
            y = y[idx] if y is not None else None
        return x, y
    if in_shape is None:
        raise ValueError("expected in_shape (C, H, W) for data-free probes (x=None), got None")
    shape = (n_probes, *[int(s) for s in in_shape])
    if data_free_mode == "grey":
        return torch.full(shape, 0.5), None
    if data_free_mode == "uniform":
        return torch.rand(shape, generator=g, device=g.device).cpu(), None
    if data_free_mode == "mean":
        mean = getattr(getattr(model, "normalize", None), "mean", None)
        if mean is None:
            raise ValueError("data_free_mode='mean' needs a model with a Normalize layer "
                             "(model.normalize.mean); use 'grey' or 'uniform' for other modules")
        return mean.detach().float().cpu().reshape(1, -1, *([1] * (len(shape) - 2))).expand(shape).clone(), None
    raise ValueError(f"expected data_free_mode in ('grey', 'mean', 'uniform'), got {data_free_mode!r}")


def noise_response(
    model: nn.Module,
    x: Optional[torch.Tensor] = None,
    y: Optional[torch.Tensor] = None,
    family: str = "gaussian",
    levels: Optional[Sequence[float]] = None,
    n_probes: int = 1000,
    data_free_mode: str = "grey",
    in_shape: Optional[Sequence[int]] = None,
    num_classes: Optional[int] = None,
    confidence: float = 0.9,
    batch_size: Optional[int] = None,
    collapse_threshold: float = 0.5,
    generator: Optional[torch.Generator] = None,
    seed: Optional[int] = 0,
    domain: Optional[Domain] = None,
) -> NoiseResponseResult:
    """Sweep a noise family over ``levels`` and summarize the model's response (titration curve).

    ``x``: real inputs in [0, 1] (or a dataset / an (x, y) pair, with ``y`` left out; at most
    ``n_probes`` are drawn from it), or None for data-free
    probes built around a grey image (0.5), the model's stored dataset mean, or uniform noise images
    of ``in_shape``. ``levels``: strengths in the family's pixel units (σ for gaussian, half-width for
    uniform, replacement probability for salt_and_pepper, contrast lost for contrast, blur σ as a
    multiple of min(H, W)/4 for blur); default 30 levels on [0, 1].
    ``confidence``: γ for the confident titration curve. The collapse score of class k is the mean
    over levels (trapezoid, level range normalized to 1) of the fraction of probes predicted as k
    with confidence > γ; the model is ``flagged`` when the largest one reaches ``collapse_threshold``.
    ``batch_size``: rows per forward; default 512 on CPU (cache-sized: the digits cnn's sweep runs
    2× faster than with 16,384 rows, the MLP's the same) and 16,384 on other devices.
    ``domain``: the inputs' domain (default: images); another one (a ``FeatureDomain``) takes its
    registered families only, needs real ``x``, and projects every noisy input onto its valid
    inputs (bounds, immutable features, integer kinds), so the sweep asks only what may occur.
    """
    x, y = as_xy(x, y)
    noise_fn = NOISE_FAMILIES.get(family)
    image = domain is None or isinstance(domain, ImageDomain)
    if not image:
        if family not in NOISE_FAMILIES.names(domain.name):
            raise ValueError(f"expected a noise family of the {domain.name} domain "
                             f"({', '.join(NOISE_FAMILIES.names(domain.name))}), got {family!r}")
        if x is None:
            raise ValueError(f"expected inputs x for the {domain.name} domain (data-free probes are images)")
        noise_fn = functools.partial(noise_fn, project=domain.project)
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"expected confidence in (0, 1), got {confidence}")
    if n_probes < 1:
        raise ValueError(f"expected n_probes >= 1, got {n_probes}")
    lv = torch.linspace(0.0, 1.0, 30, dtype=torch.float64) if levels is None else torch.as_tensor(list(levels), dtype=torch.float64)
    if lv.dim() != 1 or lv.numel() < 1 or (lv < 0).any():
        raise ValueError(f"expected a non-empty list of non-negative levels, got {levels}")
    device = model_device(model)
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"expected batch_size >= 1 or None, got {batch_size}")
    batch_size = batch_size or (512 if device.type == "cpu" else 16384)
    g = make_generator(generator, seed, device if generator is None else generator.device)
    probes, labels = _probes(model, x, y, n_probes, data_free_mode, in_shape, g, domain)
    k = check_classifier(model, probes, labels, domain)
    if num_classes is not None and int(num_classes) != k:
        raise ValueError(f"expected num_classes to match the model's {k} outputs, got {num_classes}")
    n, L = probes.shape[0], lv.numel()
    probes = probes.to(device)

    # fast_inference: BatchNorm folded and NHWC on CPU for the sweep (same function, undone after)
    with model_state(model, train=False), fast_inference(model) as net:
        pred0 = batched_logits(net, probes, batch_size).argmax(1)
        K = int(num_classes) if num_classes is not None else None
        preds = torch.empty(L * n, dtype=torch.long, device=device)
        conf = torch.empty(L * n, device=device)
        ent = torch.empty(L * n, device=device)
        level_of_row = lv.to(device).repeat_interleave(n)
        with torch.inference_mode():
            for start in range(0, L * n, batch_size):
                rows = torch.arange(start, min(start + batch_size, L * n), device=device)
                xb = noise_fn(probes[rows % n], level_of_row[rows], g)
                logits = net(xb).float()
                K = logits.shape[1] if K is None else K
                logp = logits.log_softmax(1)
                p = logp.exp()
                c, k = p.max(1)
                preds[rows], conf[rows] = k, c
                ent[rows] = -(p * logp).sum(1)
    preds, conf, ent = preds.view(L, n), conf.view(L, n), ent.view(L, n)

    # Titration curves by one bincount over (level, class) cells.
    level_idx = torch.arange(L, device=device).unsqueeze(1).expand(L, n)
    cell = (level_idx * K + preds).reshape(-1)
    frac = torch.bincount(cell, minlength=L * K).view(L, K).double() / n
    sure = (conf > confidence).reshape(-1)
    conf_frac = torch.bincount(cell[sure], minlength=L * K).view(L, K).double() / n

    acc = None
    if labels is not None:
        acc = (preds == labels.to(device).unsqueeze(0)).double().mean(1)
    flip = (preds != pred0.unsqueeze(0)).double().mean(1)
    levels_list = lv.tolist()
    class_collapse = torch.tensor([trapezoid_auc(levels_list, conf_frac[:, k]) for k in range(K)])
    collapse_class = int(class_collapse.argmax())
    collapse_score = float(class_collapse[collapse_class])
    notes = []
    if data_free_mode != "uniform" and x is None:
        notes.append(f"data-free probes around a constant {data_free_mode} image: at level 0 all probes "
                     "are the same input")
    return NoiseResponseResult(
        family=family, levels=levels_list, n_probes=n, data_free=x is None,
        confidence_threshold=float(confidence),
        accuracy=acc.tolist() if acc is not None else None,
        mean_confidence=conf.double().mean(1).tolist(), flip_rate=flip.tolist(),
        mean_entropy=ent.double().mean(1).tolist(),
        class_fraction=frac.tolist(), confident_fraction=conf_frac.tolist(),
        accuracy_auc=trapezoid_auc(levels_list, acc) if acc is not None else None,
        confidence_auc=trapezoid_auc(levels_list, conf.double().mean(1)),
        flip_auc=trapezoid_auc(levels_list, flip),
        half_accuracy_level=_half_level(levels_list, acc) if acc is not None else None,
        class_collapse=class_collapse.tolist(), collapse_score=collapse_score,
        collapse_class=collapse_class, flagged=collapse_score >= collapse_threshold, notes=notes,
        collapse_threshold=float(collapse_threshold),
    )


def _half_level(levels: List[float], acc: torch.Tensor) -> Optional[float]:
    """First level where accuracy falls to half its level-0 value (linear interpolation), or None."""
    target = float(acc[0]) / 2
    a = acc.tolist()
    for i in range(1, len(a)):
        if a[i] <= target:
            if a[i - 1] == a[i]:
                return levels[i]
            t = (a[i - 1] - target) / (a[i - 1] - a[i])
            return levels[i - 1] + t * (levels[i] - levels[i - 1])
    return None


class NoiseResponse:
    """Class form: store the sweep settings once, call on several models (e.g. a model zoo)."""

    def __init__(self, **kwargs) -> None:
        NOISE_FAMILIES.get(kwargs.get("family", "gaussian"))
        self.kwargs = kwargs

    def __call__(self, model: nn.Module, x: Optional[torch.Tensor] = None,
                 y: Optional[torch.Tensor] = None) -> NoiseResponseResult:
        return noise_response(model, x, y, **self.kwargs)


def list_noise_families(domain: Optional[str] = None) -> List[str]:
    """Registered noise families; with ``domain`` (e.g. "image", "token"), those that support it."""
    return NOISE_FAMILIES.names(domain)
