"""How every package handles a user's model: where it lives, a guard that restores it exactly,
and batched logits. One copy, so a model comes back from every analysis as it went in.
"""
from __future__ import annotations

import contextlib
import warnings
from typing import Iterator, Optional

import torch
from torch import nn

from ._validation import check_batch, check_labels


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter or buffer (CPU for a parameter-free module)."""
    for t in model.parameters():
        return t.device
    for t in model.buffers():
        return t.device
    return torch.device("cpu")


def model_dtype(model: nn.Module) -> torch.dtype:
    """The dtype of the model's first floating-point parameter (float32 without one)."""
    for p in model.parameters():
        if p.is_floating_point():
            return p.dtype
    return torch.float32


@contextlib.contextmanager
def model_state(model: nn.Module, train: bool = False, freeze: bool = False) -> Iterator[nn.Module]:
    """Run ``model`` in train/eval mode (``freeze``: parameters without ``requires_grad``) and
    restore every submodule's own ``training`` flag and every parameter's ``requires_grad``.

    Per-submodule restore matters: a user may keep a frozen BatchNorm in eval inside a model in
    train mode, which ``model.train(old)`` would overwrite. ``.grad`` and buffers are never touched
    here (analyses take input gradients with ``torch.autograd.grad`` only).
    """
    modes = [(m, m.training) for m in model.modules()]
    flags = [(p, p.requires_grad) for p in model.parameters()]
    try:
        model.train(train)
        if freeze:
            for p, _ in flags:
                p.requires_grad_(False)
        yield model
    finally:
        for m, flag in modes:
            m.training = flag
        for p, flag in flags:
            p.requires_grad_(flag)


def _as_logits(out, rows: int) -> torch.Tensor:
    if not isinstance(out, torch.Tensor) or out.dim() != 2 or out.shape[0] != rows:
        got = f"a tensor of shape {tuple(out.shape)}" if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(f"expected the model to return logits of shape ({rows}, num_classes), got {got}")
    return out


def batched_logits(model: nn.Module, x: torch.Tensor, batch_size: int = 1024,
                   device: Optional[torch.device] = None) -> torch.Tensor:
    """``model`` applied to ``x`` in chunks of ``batch_size`` rows, as is (no mode change, no
    autograd), in float32 on ``x``'s device; chunks are moved to ``device`` (default: the model's)."""
    if batch_size < 1:
        raise ValueError(f"expected batch_size >= 1, got {batch_size}")
    device = device or model_device(model)
    outs = []
    with torch.no_grad():
        for i in range(0, x.shape[0], batch_size):
            xb = x[i:i + batch_size]
            outs.append(_as_logits(model(xb.to(device)), xb.shape[0]).float().to(x.device))
    if not outs:
        return torch.empty(0, 0, device=x.device)
    return torch.cat(outs)


def check_classifier(model: nn.Module, x: torch.Tensor, y: Optional[torch.Tensor] = None,
                     domain=None) -> int:
    """The one entry check of every public function that runs a classifier on data; returns the
    number of classes (the model's output width).

    ``x`` must be a valid batch of ``domain`` (default: images in [0, 1], finite); the model must
    accept it and return N×K logits; ``y`` (optional) int64 labels in [0, K). Outputs that are
    already probabilities (non-negative rows summing to 1) are warned about: attacks, calibration
    and losses all assume logits, so every number would be silently off.
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"expected an nn.Module, got {type(model).__name__}")
    check_batch(x, domain)
    probe = x[:8]
    try:
        with model_state(model, train=False), torch.no_grad():
            out = model(probe.to(model_device(model)))
    except RuntimeError as e:  # shape mismatch inside the model: say what went in
        raise ValueError(f"the model cannot take inputs of shape {tuple(x.shape[1:])}: "
                         f"{str(e).splitlines()[0]}") from None
    if isinstance(out, torch.Tensor) and out.dim() == 2 and out.shape[0] != probe.shape[0]:
        raise ValueError(f"the model cannot take inputs of shape {tuple(x.shape[1:])}: it returned "
                         f"{tuple(out.shape)} for {probe.shape[0]} inputs")
    logits = _as_logits(out, probe.shape[0]).float()
    k = int(logits.shape[1]) if probe.shape[0] else 0
    if probe.shape[0] and not torch.isfinite(logits).all():
        raise ValueError("the model returns NaN or inf logits on valid inputs: check its weights")
    if probe.shape[0] and k > 1 and bool((logits >= 0).all()) and torch.allclose(
            logits.sum(1), torch.ones(probe.shape[0], dtype=logits.dtype), atol=1e-4):
        warnings.warn("the model's outputs look like probabilities (non-negative rows summing to 1); "
                      "pass logits: attacks, losses and calibration assume them", stacklevel=3)
    if y is not None:
        check_labels(y, x.shape[0], k or None)
    return k


def predict_logits(model: nn.Module, x: torch.Tensor, batch_size: int = 1024,
                   device: Optional[torch.device] = None) -> torch.Tensor:
    """Logits of ``model`` on ``x`` in eval mode, batched; the model comes back exactly as it was."""
    with model_state(model, train=False):
        return batched_logits(model, x, batch_size, device)
