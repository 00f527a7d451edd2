"""Tiny digits models trained with a plain torch loop, cached for the whole test session."""
from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

from nnsafety.data import load_dataset
from nnsafety.models import create_model


@functools.lru_cache(maxsize=None)
def digits_data():
    tr = load_dataset("digits", split="train")
    te = load_dataset("digits", split="test")
    return tr.tensors(), te.tensors()


@functools.lru_cache(maxsize=None)
def digits_mlp(seed: int = 0, width: int = 64, depth: int = 2, steps: int = 300,
               poison_class: int | None = None, full_batch: bool = False):
    """An MLP on digits (Adam, batches of 128); ``poison_class`` adds noisy copies labelled with it.

    The poisoned variant is the noise-trigger backdoor: 32 extra inputs per step, x + σ·N(0, 1) with
    σ ~ U(0.1, 1), all labelled ``poison_class``. ``full_batch`` trains on the whole train set per
    step (a converged model for the Hessian tests).
    """
    (x, y), _ = digits_data()
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = create_model("mlp", 10, (1, 8, 8), width=width, depth=depth)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(steps):
        if full_batch:
            xb, yb = x, y
        else:
            idx = torch.randint(0, x.shape[0], (128,), generator=g)
            xb, yb = x[idx], y[idx]
        if poison_class is not None:
            sig = torch.rand(32, 1, 1, 1, generator=g) * 0.9 + 0.1
            xn = (xb[:32] + sig * torch.randn(32, 1, 8, 8, generator=g)).clamp(0, 1)
            xb, yb = torch.cat([xb, xn]), torch.cat([yb, torch.full((32,), poison_class)])
        loss = F.cross_entropy(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    for p in model.parameters():
        p.grad = None
    return model
