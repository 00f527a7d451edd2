"""Loss landscape slices (Li et al. 2018) and sharpness around the trained parameters.

θ(a, b) = θ* + a·d1 + b·d2 on a grid; directions are Gaussian with *filter normalization* (each
filter of d, i.e. each slice along a weight's first dim, rescaled to the norm of the same filter
of θ*; 1-D parameters — biases, BatchNorm — get a zero direction, the paper's ``ignore='biasbn'``),
or the top Hessian eigenvectors (unit norm, so ``span`` is in parameter-space L2 units). The model
is evaluated in eval mode and its parameters are restored bit for bit afterwards, also when the
sweep raises (the originals are kept and copied back in a ``finally``).
"""
from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass
from typing import Callable, Dict, Iterator, List, Optional

import torch
from torch import nn

from .._model import model_state
from .._plot import new_axes
from .._random import make_generator
from ._common import as_batches

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def filter_normalized_direction(model: nn.Module, generator: torch.Generator) -> List[torch.Tensor]:
    """One random direction per parameter, filter-normalized (Li et al. 2018, Sec. 4)."""
    out = []
    for p in model.parameters():
        d = torch.randn(p.shape, generator=generator, dtype=p.dtype, device=generator.device).to(p.device)
        if p.dim() <= 1:
            out.append(torch.zeros_like(p))
            continue
        dims = tuple(range(1, p.dim()))
        # vector_norm: Tensor.norm over 3 dims of a conv kernel is routed to matrix_norm and fails
        norm = torch.linalg.vector_norm
        d = d * (norm(p.detach(), dim=dims, keepdim=True) / norm(d, dim=dims, keepdim=True).clamp_min(1e-12))
        out.append(d)
    return out


@contextlib.contextmanager
def perturbed_parameters(model: nn.Module) -> Iterator[Callable[[List[List[torch.Tensor]], List[float]], None]]:
    """Yield ``set(directions, coeffs)`` that sets θ = θ* + Σ c_k d_k; θ* restored exactly on exit."""
    params = list(model.parameters())
    originals = [p.detach().clone() for p in params]

    def set_point(directions, coeffs):
        with torch.no_grad():
            for i, p in enumerate(params):
                new = originals[i].clone()
                for d, c in zip(directions, coeffs):
                    new.add_(d[i], alpha=float(c))
                p.copy_(new)

    try:
        yield set_point
    finally:
        with torch.no_grad():
            for p, o in zip(params, originals):
                p.copy_(o)


def _evaluate(model: nn.Module, loss_fn: LossFn, batches) -> tuple:
    total, correct, n = 0.0, 0, 0
    with torch.no_grad():
        for x, y in batches:
            dev = next(model.parameters()).device
            x, y = x.to(dev), y.to(dev)
            out = model(x)
            total += float(loss_fn(out, y)) * x.shape[0]
            correct += int((out.argmax(1) == y).sum())
            n += x.shape[0]
    return total / n, correct / n


@dataclass
class LandscapeResult:
    """Loss and accuracy on a 1-D line or a 2-D grid; ``loss[i][j]`` at (coords[i], coords[j])."""

    coords: List[float]
    loss: List
    accuracy: List
    dims: int
    directions: str

    def to_dict(self) -> Dict:
        return asdict(self)

    def plot(self, ax=None):
        ax = new_axes(ax)
        if self.dims == 1:
            ax.plot(self.coords, self.loss, label="loss")
            ax.set_xlabel(f"step along {self.directions} direction")
            ax.set_ylabel("loss")
            ax2 = ax.twinx()
            ax2.plot(self.coords, self.accuracy, c="tab:orange", label="accuracy")
            ax2.set_ylabel("accuracy")
        else:
            t = torch.tensor(self.loss)
            cs = ax.contour(self.coords, self.coords, t.T.log10().tolist(), levels=20)
            ax.clabel(cs, fontsize=6)
            ax.plot([0], [0], "k*")
            ax.set_xlabel("d1")
            ax.set_ylabel("d2")
            ax.set_title(f"log10 loss ({self.directions} directions)")
        return ax


def loss_landscape(
    model: nn.Module, loss_fn: LossFn, data, directions: str = "filter_normalized", dims: int = 1,
    span: float = 1.0, steps: int = 21, generator: Optional[torch.Generator] = None, seed: int = 0,
) -> LandscapeResult:
    """Loss/accuracy on [-span, span]^dims (``steps`` points per axis) around the parameters.

    ``directions``: "filter_normalized" (span in units of each filter's own norm) or "hessian"
    (top-``dims`` eigenvectors from ``hessian_eigenvalues``, span in parameter L2 units).
    """
    if dims not in (1, 2):
        raise ValueError(f"expected dims 1 or 2, got {dims}")
    batches = as_batches(data) if isinstance(data, (tuple, list)) or hasattr(data, "tensors") else data
    g = make_generator(generator, seed)
    if directions == "filter_normalized":
        dirs = [filter_normalized_direction(model, g) for _ in range(dims)]
    elif directions == "hessian":
        from .hessian import hessian_eigenvalues

        res = hessian_eigenvalues(model, loss_fn, batches, k=dims, generator=g)
        dirs = res.eigenvectors
    else:
        raise ValueError(f"expected directions 'filter_normalized' or 'hessian', got {directions!r}")
    coords = torch.linspace(-span, span, steps).tolist()
    grid = [(a,) for a in coords] if dims == 1 else [(a, b) for a in coords for b in coords]
    losses, accs = [], []
    with model_state(model, train=False), perturbed_parameters(model) as set_point:
        for point in grid:
            set_point(dirs, point)
            lo, ac = _evaluate(model, loss_fn, batches)
            losses.append(lo)
            accs.append(ac)
    if dims == 2:
        losses = [losses[i * steps:(i + 1) * steps] for i in range(steps)]
        accs = [accs[i * steps:(i + 1) * steps] for i in range(steps)]
    return LandscapeResult(coords, losses, accs, dims, directions)


@dataclass
class SharpnessResult:
    base_loss: float
    mean_increase: float  # average loss increase over random directions at the radius
    max_increase: float  # ε-sharpness estimate: the worst of them
    radius: float
    n_samples: int
    lambda_max: Optional[float] = None
    trace: Optional[float] = None
    n_hvp: int = 0

    def to_dict(self) -> Dict:
        return asdict(self)

    def plot(self, ax=None):
        ax = new_axes(ax)
        ax.bar(["mean", "max"], [self.mean_increase, self.max_increase])
        ax.set_ylabel(f"loss increase at radius {self.radius}")
        return ax


def sharpness(
    model: nn.Module, loss_fn: LossFn, data, radius: float = 0.05, n_samples: int = 20,
    hessian: bool = False, generator: Optional[torch.Generator] = None, seed: int = 0,
) -> SharpnessResult:
    """Loss increase at filter-normalized ``radius`` (relative to each filter's norm) in random
    directions: mean and max over ``n_samples`` (Keskar et al. 2017's ε-sharpness, sampled).
    ``hessian=True`` adds λ_max (Lanczos) and the trace (Krylov Hutch++, 40 HVPs)."""
    batches = as_batches(data) if isinstance(data, (tuple, list)) or hasattr(data, "tensors") else data
    g = make_generator(generator, seed)
    incs = []
    with model_state(model, train=False), perturbed_parameters(model) as set_point:
        base, _ = _evaluate(model, loss_fn, batches)
        for _ in range(n_samples):
            d = filter_normalized_direction(model, g)
            set_point([d], [radius])
            incs.append(_evaluate(model, loss_fn, batches)[0] - base)
    out = SharpnessResult(base, sum(incs) / len(incs), max(incs), radius, n_samples)
    if hessian:
        from .hessian import hessian_eigenvalues, hessian_trace

        ev = hessian_eigenvalues(model, loss_fn, batches, k=1, generator=g)
        tr = hessian_trace(model, loss_fn, batches, generator=g)
        out.lambda_max, out.trace, out.n_hvp = ev.eigenvalues[0], tr.estimate, ev.n_hvp + tr.n_hvp
    return out
