"""Helpers private to the metrics: dataset batches and curve areas (model handling, generators,
plotting and progress live in the shared bottom layer: ``nnsafety._model``, ``_random``, ``_plot``)."""
from __future__ import annotations

from typing import List, Sequence, Tuple

import torch

Batch = Tuple[torch.Tensor, torch.Tensor]

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


def trapezoid_auc(levels: Sequence[float], values: torch.Tensor) -> float:
    """Area under ``values`` over ``levels`` divided by the level range (a mean value in [min, max])."""
    lv = torch.as_tensor(levels, dtype=torch.float64)
    v = torch.as_tensor(values, dtype=torch.float64)
    width = float(lv[-1] - lv[0])
    if lv.numel() < 2 or width <= 0:
        return float(v.mean())
    return float(torch.trapezoid(v, lv) / width)
