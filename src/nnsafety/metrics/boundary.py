"""Decision boundaries: 2-D input maps, planes through images, and margins along directions.

Distances are L2 in pixel space ([0, 1] units). Points on a plane or a line are *not* clipped to
[0, 1] (clipping would bend the plane); the model sees them as they are.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Dict, List, Optional, Tuple, Union

import torch
from torch import nn

from .._validation import check_images
from .._model import batched_logits, model_device, model_state
from .._plot import new_axes
from .._random import make_generator


@dataclass
class BoundaryResult:
    """Predicted class on a grid (``pred[i][j]`` at (xs[j], ys[i])) with points overlaid."""

    xs: List[float]
    ys: List[float]
    pred: List[List[int]]
    confidence: List[List[float]]
    points: List[List[float]]  # data (2-D) or anchor coordinates (plane)
    labels: List[int]
    kind: str

    def to_dict(self) -> Dict:
        return asdict(self)

    def plot(self, ax=None):
        ax = new_axes(ax)
        ax.pcolormesh(self.xs, self.ys, self.pred, cmap="tab10", vmin=0, vmax=9, shading="auto", alpha=0.5)
        if self.points:
            p = torch.tensor(self.points)
            marker = "o" if self.kind == "2d" else "*"
            ax.scatter(p[:, 0].tolist(), p[:, 1].tolist(), c=self.labels, cmap="tab10", vmin=0, vmax=9,
                       marker=marker, s=12 if self.kind == "2d" else 150, edgecolors="k", linewidths=0.5)
        ax.set_title("decision regions" if self.kind == "2d" else "decision plane (anchors ★)")
        return ax


def decision_boundary_2d(model: nn.Module, x: torch.Tensor, y: Optional[torch.Tensor] = None,
                         grid: int = 200, pad: float = 0.1, batch_size: int = 65536) -> BoundaryResult:
    """Predicted class over a ``grid``×``grid`` box around 2-D data ``x`` (N×2), box padded by ``pad``."""
    if x.dim() != 2 or x.shape[1] != 2:
        raise ValueError(f"expected 2-D inputs of shape N×2, got shape {tuple(x.shape)}")
    lo, hi = x.min(0).values, x.max(0).values
    w = (hi - lo) * pad
    xs = torch.linspace(float(lo[0] - w[0]), float(hi[0] + w[0]), grid)
    ys = torch.linspace(float(lo[1] - w[1]), float(hi[1] + w[1]), grid)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    pts = torch.stack([gx.reshape(-1), gy.reshape(-1)], 1).to(x.dtype)
    with model_state(model, train=False):
        p = batched_logits(model, pts, batch_size).softmax(1)
    conf, pred = p.max(1)
    labels = (y if y is not None else batched_logits(model, x, batch_size).argmax(1)).tolist()
    return BoundaryResult(xs.tolist(), ys.tolist(), pred.view(grid, grid).tolist(),
                          conf.view(grid, grid).tolist(), x.tolist(), labels, "2d")


def _margin_gradient(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """∇_x of the margin loss (max other logit - predicted logit), L2-normalized per input.

    ``torch.autograd.grad`` with respect to x only: ``.backward()`` would also write the model's
    parameter ``.grad`` (found by the model-state test)."""
    x = x.clone().requires_grad_(True)
    with torch.enable_grad():
        out = model(x)
        k = out.argmax(1, keepdim=True)
        other = out.scatter(1, k, float("-inf")).max(1).values
        (g,) = torch.autograd.grad((other - out.gather(1, k).squeeze(1)).sum(), x)
    g = g.flatten(1)
    return (g / g.norm(dim=1, keepdim=True).clamp_min(1e-12)).view_as(x)


def decision_plane(
    model: nn.Module, anchors: Union[torch.Tensor, Tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
    directions: str = "random", resolution: int = 101, span: float = 1.0,
    generator: Optional[torch.Generator] = None, seed: int = 0, batch_size: int = 8192,
) -> BoundaryResult:
    """Predicted class on a plane in input space (Somepalli et al. 2022 style).

    ``anchors``: 3 images (the plane through them, orthonormal basis by Gram–Schmidt; the grid
    covers the anchors plus ``span``·10 % margin), a tuple (x0, d1, d2), or 1 image with two
    unit ``directions``: "random" (Gaussian), "gradient" (normalized margin gradient, then random) or
    "adversarial" (the margin gradient and the gradient at x0 + 0.5·d1). Grid spans ±``span`` (L2
    pixel units) around x0 for those.
    """
    g = make_generator(generator, seed)
    dev = model_device(model)
    anchor_pts: List[List[float]] = []
    with model_state(model, train=False):
        if isinstance(anchors, tuple):
            x0, d1, d2 = (t.to(dev) for t in anchors)
            lim = (-span, span, -span, span)
        else:
            check_images(anchors, "anchors")
            a = anchors.to(dev)
            if a.shape[0] == 3:
                x0, u, v = a[0], a[1] - a[0], a[2] - a[0]
                d1 = u / u.norm()
                v = v - (v.flatten() @ d1.flatten()) * d1
                d2 = v / v.norm()
                coords = [(0.0, 0.0), (float(u.norm()), 0.0),
                          (float((a[2] - a[0]).flatten() @ d1.flatten()), float((a[2] - a[0]).flatten() @ d2.flatten()))]
                anchor_pts = [list(c) for c in coords]
                xs_, ys_ = [c[0] for c in coords], [c[1] for c in coords]
                m = 0.1 * span * max(max(xs_) - min(xs_), max(ys_) - min(ys_))
                lim = (min(xs_) - m, max(xs_) + m, min(ys_) - m, max(ys_) + m)
            elif a.shape[0] == 1:
                x0 = a[0]
                rnd = lambda: torch.randn(x0.shape, generator=g, device=g.device).to(dev)
                if directions == "random":
                    d1, d2 = rnd(), rnd()
                elif directions == "gradient":
                    d1, d2 = _margin_gradient(model, a)[0], rnd()
                elif directions == "adversarial":
                    d1 = _margin_gradient(model, a)[0]
                    d2 = _margin_gradient(model, (a + 0.5 * d1).clamp(0, 1))[0]
                else:
                    raise ValueError(f"expected directions 'random', 'gradient' or 'adversarial', got {directions!r}")
                d1 = d1 / d1.norm()
                d2 = d2 - (d2.flatten() @ d1.flatten()) * d1
                d2 = d2 / d2.norm().clamp_min(1e-12)
                anchor_pts = [[0.0, 0.0]]
                lim = (-span, span, -span, span)
            else:
                raise ValueError(f"expected 1 or 3 anchor images, got {a.shape[0]}")
        xs = torch.linspace(lim[0], lim[1], resolution, device=dev)
        ys = torch.linspace(lim[2], lim[3], resolution, device=dev)
        gy, gx = torch.meshgrid(ys, xs, indexing="ij")
        pts = x0.unsqueeze(0) + gx.reshape(-1, *[1] * x0.dim()) * d1 + gy.reshape(-1, *[1] * x0.dim()) * d2
        p = batched_logits(model, pts, batch_size).softmax(1)
        anchor_labels = []
        if anchor_pts:
            ap = torch.stack([x0 + c[0] * d1 + c[1] * d2 for c in anchor_pts])
            anchor_labels = batched_logits(model, ap, batch_size).argmax(1).tolist()
    conf, pred = p.max(1)
    return BoundaryResult(xs.tolist(), ys.tolist(), pred.view(resolution, resolution).tolist(),
                          conf.view(resolution, resolution).tolist(), anchor_pts, anchor_labels, "plane")


@dataclass
class MarginResult:
    """Distance (L2, pixel units) to the first prediction change along each direction."""

    distances: List[List[float]]  # n inputs × n directions; inf where no change within max_dist
    directions: str
    max_dist: float
    median: float
    censored_fraction: float

    def to_dict(self) -> Dict:
        d = asdict(self)
        d["distances"] = [[v if v != float("inf") else None for v in r] for r in self.distances]
        d["median"] = self.median if self.median != float("inf") else None
        return d

    def plot(self, ax=None):
        ax = new_axes(ax)
        v = torch.tensor(self.distances).flatten()
        v = v[torch.isfinite(v)]
        ax.hist(v.tolist(), bins=40)
        ax.set_xlabel(f"distance to the boundary along {self.directions} directions (L2)")
        ax.set_ylabel("count")
        ax.set_title(f"margin: median {self.median:.3g}, {100 * self.censored_fraction:.0f}% > {self.max_dist}")
        return ax


def margin_distribution(
    model: nn.Module, x: torch.Tensor, y: Optional[torch.Tensor] = None, directions: str = "random",
    n_directions: int = 10, max_dist: float = 5.0, tol: float = 1e-3, coarse_steps: int = 32,
    generator: Optional[torch.Generator] = None, seed: int = 0, batch_size: int = 8192,
) -> MarginResult:
    """Distance to the decision boundary along unit directions by batched scan + bisection.

    Each (input, direction) ray x + t·u, t ∈ [0, ``max_dist``], is scanned at ``coarse_steps``
    points for the first change of the predicted class (vs the prediction at t = 0), then bisected
    on that bracket to ``tol``. "adversarial": one direction per input, the normalized gradient of
    the margin loss (a linearized nearest-boundary direction). ``y`` is unused by the distances
    (they are to the model's own boundary) and kept for the CLI signature.
    """
    check_images(x)
    g = make_generator(generator, seed)
    dev = model_device(model)
    x = x.to(dev)
    n = x.shape[0]
    with model_state(model, train=False):
        pred0 = batched_logits(model, x, batch_size).argmax(1)
        if directions == "random":
            u = torch.randn((n, n_directions, *x.shape[1:]), generator=g, device=g.device).to(dev)
        elif directions == "adversarial":
            u = _margin_gradient(model, x).unsqueeze(1)
        else:
            raise ValueError(f"expected directions 'random' or 'adversarial', got {directions!r}")
        u = u / u.flatten(2).norm(dim=2).view(*u.shape[:2], *[1] * (x.dim() - 1))
        k = u.shape[1]
        base = x.unsqueeze(1).expand_as(u).reshape(n * k, *x.shape[1:])
        u = u.reshape(n * k, *x.shape[1:])
        ref = pred0.repeat_interleave(k)
        shape1 = (-1, *[1] * (x.dim() - 1))

        ts = torch.linspace(0, max_dist, coarse_steps + 1, device=dev)[1:]
        hi = torch.full((n * k,), float("inf"), device=dev)
        for t in ts:  # first coarse point where the class changed
            todo = torch.isinf(hi)
            if not todo.any():
                break
            c = torch.zeros_like(todo)
            c[todo] = batched_logits(model, base[todo] + float(t) * u[todo], batch_size).argmax(1) != ref[todo]
            hi[c] = t
        found = torch.isfinite(hi)
        lo = (hi - ts[0]).clamp_min(0)
        hi_f, lo_f = hi[found], lo[found]
        b, uu, rr = base[found], u[found], ref[found]
        while found.any() and float((hi_f - lo_f).max()) > tol:
            mid = (hi_f + lo_f) / 2
            c = batched_logits(model, b + mid.view(shape1) * uu, batch_size).argmax(1) != rr
            hi_f = torch.where(c, mid, hi_f)
            lo_f = torch.where(c, lo_f, mid)
        hi[found] = hi_f
    dist = hi.view(n, k).cpu()
    fin = dist[torch.isfinite(dist)]
    return MarginResult(dist.tolist(), directions, float(max_dist),
                        float(dist.flatten().median()) if dist.numel() else float("nan"),
                        float(1 - fin.numel() / max(dist.numel(), 1)))
