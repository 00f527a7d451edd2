"""Spectral weight analysis (heavy-tailed self-regularization, Martin & Mahoney 2021).

Per layer, the empirical spectral density (ESD) of WᵀW and its power-law tail exponent α.
Conventions follow WeightWatcher 0.7.7 so α agrees with its ``analyze()``:
- eigenvalues are squared singular values of W (no division by N); W is N×M with N ≥ M;
- Linear/Embedding: one matrix. Conv (out, in, k…): one out×in matrix per kernel position, their
  eigenvalues pooled into one ESD (M·k eigenvalues). WeightWatcher additionally scales conv ESDs
  by 1/2 (its ``conv2d_norm``); we do not, so our log norms of conv layers are log10(2) larger
  (α, stable rank and spikes are scale-free and unaffected);
- α by the Clauset MLE with x_min by KS distance over eigenvalues > 1e-5 (``_powerlaw.py``);
  α̂ = α·log10 λ_max, ``log_norm`` = log10 Σλ (= log10 ‖W‖_F²), ``log_spectral_norm`` = log10 λ_max,
  stable rank = Σλ / λ_max.
Marchenko–Pastur (documented differently from WeightWatcher's brute-force density fit): the bulk
variance σ² is the mean of λ/N over the bulk, iterated while spikes are removed; the bulk edge
is the Tracy–Widom 99 % quantile of λ_max for an N×M Gaussian matrix of that variance (Johnstone
2001): σ²[(√N+√M)² + 2.02 (√N+√M)(1/√N+1/√M)^(1/3)]. Spikes are eigenvalues above it, MP soft
rank = edge / λ_max. Correlation traps: eigenvalues of the element-wise permuted W (same entries,
correlations destroyed) above the same kind of edge with the entries' exact variance.
BatchNorm/LayerNorm weights are 1-D (a diagonal scale, no ESD): listed in ``skipped`` with that
reason, as is every other parameterized module we do not analyse; nothing is dropped silently.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn

from .._plot import new_axes, pyplot
from .._random import make_generator
from ._powerlaw import fit_powerlaw

TW99 = 2.02  # 99 % quantile of the Tracy–Widom β=1 law


@dataclass
class LayerSpectrum:
    name: str
    kind: str
    shape: List[int]
    n_evals: int
    method: str
    alpha: float
    xmin: float
    ks_distance: float
    n_tail: int
    alpha_weighted: float
    log_norm: float
    log_spectral_norm: float
    stable_rank: float
    mp_sigma2: float
    mp_edge: float
    mp_softrank: float
    num_spikes: int
    num_traps: int
    warnings: List[str]
    eigenvalues: Optional[torch.Tensor] = field(default=None, repr=False)

    def to_dict(self) -> Dict:
        d = {k: v for k, v in asdict(self).items() if k != "eigenvalues"}
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in d.items()}


@dataclass
class SpectralResult:
    layers: List[LayerSpectrum]
    skipped: List[Dict[str, str]]

    @property
    def mean_alpha(self) -> float:
        a = [r.alpha for r in self.layers if math.isfinite(r.alpha)]
        return sum(a) / len(a) if a else float("nan")

    def to_dict(self) -> Dict:
        m = self.mean_alpha
        return {"layers": [r.to_dict() for r in self.layers], "skipped": self.skipped,
                "mean_alpha": m if math.isfinite(m) else None}

    def plot(self, ax=None):
        """α per layer with the 2 (over-fit) and 6 (under-trained) guide lines."""
        ax = new_axes(ax)
        ax.plot(range(len(self.layers)), [r.alpha for r in self.layers], "o-")
        for y, c in ((2, "tab:red"), (6, "tab:orange")):
            ax.axhline(y, ls="--", c=c, lw=1)
        ax.set_xticks(range(len(self.layers)), [r.name for r in self.layers], rotation=90, fontsize=6)
        ax.set_ylabel("power-law α")
        ax.set_title(f"layer α (mean {self.mean_alpha:.2f})")
        return ax

    def plot_esd(self, name: str, ax=None):
        """Log-log histogram of one layer's ESD with its fitted x_min and MP edge."""
        r = next(r for r in self.layers if r.name == name)
        ax = new_axes(ax)
        ev = r.eigenvalues[r.eigenvalues > 1e-12].log10()
        ax.hist(ev.tolist(), bins=60, density=True)
        ax.axvline(math.log10(r.xmin), c="tab:red", label=f"x_min (α={r.alpha:.2f})")
        ax.axvline(math.log10(r.mp_edge), c="tab:green", label="MP edge")
        ax.set_xlabel("log10 eigenvalue")
        ax.legend(fontsize=8)
        return ax


def _layer_matrices(module: nn.Module) -> Optional[Tuple[str, torch.Tensor]]:
    """(kind, stack of r matrices r×a×b) for an analysable module, None otherwise."""
    w = getattr(module, "weight", None)
    if not isinstance(w, torch.Tensor) or w.dim() < 2:
        return None
    w = w.detach()
    if isinstance(module, (nn.Linear, nn.Embedding)) or w.dim() == 2:
        return type(module).__name__, w.unsqueeze(0)
    if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        if getattr(module, "transposed", False):
            w = w.transpose(0, 1)
        return type(module).__name__, w.flatten(2).permute(2, 0, 1)  # one matrix per kernel position
    return f"{type(module).__name__} (weight reshaped out×rest)", w.reshape(w.shape[0], -1).unsqueeze(0)


F32_FROM = 256  # precision="auto": float32 from this many columns up (float64 is cheap below)
F32_REL_ERR = 1e-5  # tested bound on |λ_f32 − λ_f64| / λ_max (tests/metrics/test_spectral.py)


def _work_dtype(m: int, precision: str) -> torch.dtype:
    if precision not in ("auto", "float32", "float64"):
        raise ValueError(f"expected precision in ('auto', 'float32', 'float64'), got {precision!r}")
    if precision == "float64" or (precision == "auto" and m < F32_FROM):
        return torch.float64
    return torch.float32


def _eigenvalues(mats: torch.Tensor, randomized_threshold: int, g: torch.Generator,
                 precision: str = "float64") -> Tuple[torch.Tensor, str]:
    """Pooled eigenvalues of WᵀW over the stack (returned as float64), exact or top-k randomized.

    float32 (MKL ssyevd on the float32 Gram, ~2× faster than float64 at 512 columns) has an
    absolute error below ``F32_REL_ERR``·λ_max per eigenvalue (measured ≤ 5e-6 up to 640 columns):
    the α fit reads only the tail x ≥ x_min, where that error moves α by at most
    2(α−1)²·err/x_min (tested against float64 on the test matrices).
    """
    if mats.shape[1] < mats.shape[2]:
        mats = mats.transpose(1, 2)
    m = mats.shape[2]
    if m <= randomized_threshold:
        w = mats.to(_work_dtype(m, precision)).contiguous()
        gram = w.transpose(1, 2) @ w  # M×M: cheaper than the SVD of N×M when N ≥ M
        return torch.linalg.eigvalsh(gram).to(torch.float64).clamp_min(0).flatten(), "exact"
    k = randomized_threshold
    vals = []
    for w in mats:
        _, s, _ = torch.svd_lowrank(w.to(torch.float32), q=k + 10, niter=4)
        vals.append(s[:k].double() ** 2)
    return torch.cat(vals), f"randomized top-{k} of {m} per matrix (tail fit on those only)"


def _tw_edge(var: float, n: int, m: int) -> float:
    a = math.sqrt(n) + math.sqrt(m)
    return var * (a * a + TW99 * a * (1 / math.sqrt(n) + 1 / math.sqrt(m)) ** (1 / 3))


def _mp_bulk(evals: torch.Tensor, n: int, m: int) -> Tuple[float, float, int]:
    """(σ², edge, spikes): σ² = mean λ/N over the bulk, re-estimated while spikes are removed."""
    var = float(evals.mean()) / n
    spikes = -1
    for _ in range(100):
        edge = _tw_edge(var, n, m)
        bulk = evals[evals <= edge]
        new = int(evals.numel() - bulk.numel())
        if new == spikes or bulk.numel() == 0:
            break
        spikes, var = new, float(bulk.mean()) / n
    edge = _tw_edge(var, n, m)
    return var, edge, int((evals > edge).sum())


TRAP_MARGIN = 1e-3  # float32 screen at edge·(1 − margin): ≫ its error (≤ 1e-5 relative)


def _traps(mats: torch.Tensor, g: torch.Generator, precision: str = "float64") -> int:
    """Eigenvalues of the entry-permuted matrices above their exact-variance MP edge."""
    if mats.shape[1] < mats.shape[2]:
        mats = mats.transpose(1, 2)
    r, n, m = mats.shape
    flat = mats.reshape(r, -1).contiguous()
    # randperm, not argsort(rand): float32 ties make argsort keep runs of the original order. One
    # permutation for all r matrices of a layer: each is still a uniformly shuffled copy of itself
    # (all a trap count looks at), for one randperm instead of r. index_select on a contiguous
    # copy: ~10× faster than fancy indexing of the strided conv view
    perm = torch.randperm(flat.shape[1], generator=g)
    dtype = _work_dtype(m, precision)
    shuffled = flat.index_select(1, perm).to(dtype).view(r, n, m)
    gram = shuffled.transpose(1, 2) @ shuffled
    # entry variance from float64 sums (a float64 copy of the weights costs as much as the Gram)
    k = flat.shape[1]
    mean = flat.sum(1, dtype=torch.float64) / k
    var = ((flat * flat).sum(1, dtype=torch.float64) / k - mean * mean).clamp_min(0).tolist()
    edges = torch.tensor([_tw_edge(v, n, m) for v in var], dtype=torch.float64)
    # Sylvester's inertia: edge·I - WᵀW is positive definite iff no eigenvalue reaches the edge, and
    # a Cholesky (m³/3 flops) decides that ~5× faster than eigvalsh. In float32 the screen runs at
    # edge·(1 − TRAP_MARGIN), so rounding cannot pass a matrix that has an eigenvalue above the
    # edge; every matrix that fails the screen (the ones with traps, rare) gets its eigenvalues
    # counted in float64: the count is the float64 one
    screen = edges * (1 - TRAP_MARGIN) if dtype == torch.float32 else edges
    eye = torch.eye(m, dtype=dtype)
    info = torch.linalg.cholesky_ex(screen.to(dtype).view(r, 1, 1) * eye - gram).info
    bad = (info != 0).nonzero().flatten()
    if bad.numel() == 0:
        return 0
    w64 = flat[bad].index_select(1, perm).to(torch.float64).view(-1, n, m)
    ev = torch.linalg.eigvalsh(w64.transpose(1, 2) @ w64)
    return int((ev > edges[bad].unsqueeze(1)).sum())


def _warnings(alpha: float, traps: int) -> List[str]:
    out = []
    if math.isfinite(alpha) and alpha < 2:
        out.append("alpha < 2: possibly over-trained / over-fit layer")
    if math.isfinite(alpha) and alpha > 6:
        out.append("alpha > 6: under-trained layer")
    if traps > 0:
        out.append(f"{traps} correlation trap(s): large entries that the randomized matrix still shows")
    return out


def spectral_analysis(
    model: nn.Module, min_size: int = 8, randomized_threshold: int = 4096, traps: bool = True,
    keep_eigenvalues: bool = True, generator: Optional[torch.Generator] = None, seed: int = 0,
    precision: str = "auto",
) -> SpectralResult:
    """Per-layer ESD metrics of ``model``'s weight matrices (conventions in the module docstring).

    ``min_size``: layers with fewer eigenvalues are skipped (with the reason). Matrices whose smaller
    side exceeds ``randomized_threshold`` use a randomized SVD of their top ``randomized_threshold``
    singular values (stated in the row's ``method``). ``traps``: compute correlation traps (one
    extra Gram + Cholesky of the permuted weights per layer). ``precision``: "float64", "float32"
    (eigenvalue error < 1e-5·λ_max, see ``_eigenvalues``; trap counts stay the float64 ones) or
    "auto" (float32 for matrices with ≥ 256 columns, where it halves the time, float64 below).
    """
    _work_dtype(1, precision)  # validate before the loop
    g = make_generator(generator, seed)
    rows: List[LayerSpectrum] = []
    skipped: List[Dict[str, str]] = []
    for name, module in model.named_modules():
        own = list(module.parameters(recurse=False))
        if not own:
            continue
        got = _layer_matrices(module)
        if got is None:
            why = ("normalization layer: 1-D scale, no matrix ESD" if "norm" in type(module).__name__.lower()
                   else "no weight matrix of 2 or more dimensions")
            skipped.append({"name": name, "kind": type(module).__name__, "reason": why})
            continue
        kind, mats = got
        n, m = max(mats.shape[1:]), min(mats.shape[1:])
        if m * mats.shape[0] < min_size:
            skipped.append({"name": name, "kind": kind,
                            "reason": f"{m * mats.shape[0]} eigenvalues < min_size={min_size}"})
            continue
        evals, method = _eigenvalues(mats, randomized_threshold, g, precision)
        evals = torch.sort(evals).values
        fit = fit_powerlaw(evals)
        lam_max, total = float(evals[-1]), float(evals.sum())
        var, edge, spikes = _mp_bulk(evals, n, m)
        n_traps = _traps(mats, g, precision) if traps and method == "exact" else 0
        rows.append(LayerSpectrum(
            name=name, kind=kind, shape=list(module.weight.shape), n_evals=int(evals.numel()),
            method=method, alpha=fit.alpha, xmin=fit.xmin, ks_distance=fit.ks_distance,
            n_tail=fit.n_tail, alpha_weighted=fit.alpha * math.log10(lam_max) if lam_max > 0 else float("nan"),
            log_norm=math.log10(total) if total > 0 else float("-inf"),
            log_spectral_norm=math.log10(lam_max) if lam_max > 0 else float("-inf"),
            stable_rank=total / lam_max if lam_max > 0 else 0.0,
            mp_sigma2=var, mp_edge=edge, mp_softrank=min(edge / lam_max, 1.0) if lam_max > 0 else 0.0,
            num_spikes=spikes, num_traps=n_traps, warnings=_warnings(fit.alpha, n_traps),
            eigenvalues=evals if keep_eigenvalues else None,
        ))
    return SpectralResult(rows, skipped)


@dataclass
class FirstLayerResult:
    """The first layer's weights as images: MLP rows reshaped to C×H×W, or conv kernels."""

    name: str
    kind: str
    images: torch.Tensor  # n × C × h × w, raw weights

    def to_dict(self) -> Dict:
        return {"name": self.name, "kind": self.kind, "shape": list(self.images.shape)}

    def plot(self, ax=None, max_images: int = 64, title: Optional[str] = None):
        """One image grid (each filter scaled to its own symmetric range around 0)."""
        ax = new_axes(ax)
        imgs = self.images[:max_images].float()
        n, c, h, w = imgs.shape
        scale = imgs.flatten(1).abs().max(1).values.clamp_min(1e-12).view(-1, 1, 1, 1)
        imgs = 0.5 + 0.5 * imgs / scale
        if c != 3:
            imgs = imgs.mean(1, keepdim=True)
        cols = math.ceil(math.sqrt(n))
        rows = math.ceil(n / cols)
        grid = torch.ones(imgs.shape[1], rows * (h + 1), cols * (w + 1))
        for i in range(n):
            r, q = divmod(i, cols)
            grid[:, r * (h + 1):r * (h + 1) + h, q * (w + 1):q * (w + 1) + w] = imgs[i]
        if grid.shape[0] == 3:
            ax.imshow(grid.permute(1, 2, 0).numpy())
        else:
            ax.imshow(grid[0].numpy(), cmap="RdBu_r", vmin=0, vmax=1)
        ax.set_axis_off()
        ax.set_title(title or f"{self.name} ({self.kind}, {n} filters)", fontsize=9)
        return ax


def first_layer_grid(model: nn.Module, in_shape: Sequence[int]) -> FirstLayerResult:
    """The first Linear (rows as C×H×W images) or Conv2d (kernels) that reads the input."""
    in_shape = tuple(int(s) for s in in_shape)
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            return FirstLayerResult(name, "Conv2d", module.weight.detach().cpu())
        if isinstance(module, nn.Linear):
            if module.in_features != math.prod(in_shape):
                raise ValueError(f"expected the first Linear to read {math.prod(in_shape)} inputs "
                                 f"(in_shape {in_shape}), got in_features={module.in_features}")
            shape = in_shape if len(in_shape) == 3 else (1, 1, in_shape[0])
            return FirstLayerResult(name, "Linear", module.weight.detach().cpu().reshape(-1, *shape))
    raise ValueError("expected a model with a Linear or Conv2d layer, found none")


def plot_first_layers(models: Sequence[nn.Module], titles: Optional[Sequence[str]] = None,
                      in_shape: Sequence[int] = (1, 8, 8), max_images: int = 64):
    """Side-by-side first-layer grids (the "which model is backdoored?" picture); returns the Figure."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(models), figsize=(4 * len(models), 4))
    axes = [axes] if len(models) == 1 else list(axes)
    for i, (m, ax) in enumerate(zip(models, axes)):
        first_layer_grid(m, in_shape).plot(ax, max_images, title=titles[i] if titles else None)
    return fig
