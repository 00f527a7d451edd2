"""Small helpers shared by the metrics: model device, mode switching, generators, batch iteration."""
from __future__ import annotations

import contextlib
from typing import Iterable, Iterator, List, Optional, Sequence, Tuple

import torch
from torch import nn

Batch = Tuple[torch.Tensor, torch.Tensor]


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter or buffer (CPU for a parameter-free module)."""
    for t in list(model.parameters()) + list(model.buffers()):
        return t.device
    return torch.device("cpu")


def model_dtype(model: nn.Module) -> torch.dtype:
    for p in model.parameters():
        if p.is_floating_point():
            return p.dtype
    return torch.float32


@contextlib.contextmanager
def training_mode(model: nn.Module, train: bool) -> Iterator[nn.Module]:
    """Put ``model`` (and every submodule) in train/eval mode and restore each module's own flag.

    Restoring per module matters: a user may keep e.g. a frozen BatchNorm in eval inside a model in
    train mode, and ``model.train(old)`` would overwrite that.
    """
    flags = [(m, m.training) for m in model.modules()]
    model.train(train)
    try:
        yield model
    finally:
        for m, flag in flags:
            m.training = flag


def make_generator(
    generator: Optional[torch.Generator], seed: Optional[int], device: torch.device | str = "cpu"
) -> torch.Generator:
    """The caller's generator, or a fresh one seeded with ``seed`` (default 0) on ``device``."""
    if generator is not None:
        return generator
    g = torch.Generator(device=device)
    g.manual_seed(0 if seed is None else int(seed))
    return g


def as_batches(data) -> List[Batch]:
    """Normalize ``data`` to a list of (x, y) batches.

    Accepts one (x, y) tuple of tensors, an iterable of (x, y) batches (e.g. a DataLoader), or an
    object with ``tensors()`` (the project's ``ArrayDataset``, taken as one batch).
    """
    if hasattr(data, "tensors") and callable(data.tensors):
        data = data.tensors()
    if isinstance(data, (tuple, list)) and len(data) == 2 and isinstance(data[0], torch.Tensor) \
            and isinstance(data[1], torch.Tensor) and data[0].shape[0] == data[1].shape[0] \
            and data[0].dim() >= 2:
        return [(data[0], data[1])]
    batches = []
    for b in data:
        if not (isinstance(b, (tuple, list)) and len(b) >= 2):
            raise ValueError(f"expected data as (x, y) or an iterable of (x, y) batches, got {type(b).__name__}")
        batches.append((b[0], b[1]))
    if not batches:
        raise ValueError("expected at least one (x, y) batch, got an empty iterable")
    return batches


def predict_logits(model: nn.Module, x: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Logits of ``model`` on ``x`` in chunks of ``batch_size`` (no autograd)."""
    device = model_device(model)
    outs = []
    with torch.inference_mode():
        for i in range(0, x.shape[0], batch_size):
            outs.append(model(x[i:i + batch_size].to(device)).float())
    return torch.cat(outs) if outs else torch.empty(0)


def trapezoid_auc(levels: Sequence[float], values: torch.Tensor) -> float:
    """Area under ``values`` over ``levels`` divided by the level range (a mean value in [min, max])."""
    lv = torch.as_tensor(levels, dtype=torch.float64)
    v = torch.as_tensor(values, dtype=torch.float64)
    width = float(lv[-1] - lv[0])
    if lv.numel() < 2 or width <= 0:
        return float(v.mean())
    return float(torch.trapezoid(v, lv) / width)


def setup_matplotlib():
    """Import pyplot lazily; fall back to Agg only when no backend has been chosen yet."""
    import matplotlib

    if matplotlib.get_backend().lower() in ("", "agg") or not _has_display():
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _has_display() -> bool:
    import os

    return bool(os.environ.get("DISPLAY") or os.environ.get("MPLBACKEND"))


def new_axes(ax=None):
    plt = setup_matplotlib()
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 4))
    return ax
