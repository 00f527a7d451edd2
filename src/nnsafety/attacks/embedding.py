"""PGD in a text model's embedding space (the continuous threat model of embedding-space AT).

A text model with the seam ``embed(ids)`` / ``forward_embeddings(e, mask)`` is attacked on its
word vectors: every real token t may move inside an L2 ball of radius ε·‖e_t‖₂ around its clean
vector e_t (padding never moves). The radius is relative to each word vector's own length, so a
model cannot escape the threat by growing its embeddings (the reason Miyato et al., ICLR 2017,
normalize embeddings before perturbing them). Steps follow Madry et al. (ICLR 2018) with the L2
rule per token: δ_t ← Π(δ_t + α_t·g_t/‖g_t‖), α_t = step_size·‖e_t‖, default step_size
2.5·ε/steps, from a uniform random start in each ball. ``ε`` and ``step_size`` are fractions.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from .. import _random
from .._model import model_state


def check_embedding_seam(model: nn.Module, what: str) -> None:
    """One-line error unless ``model`` has ``embed(ids)`` and ``forward_embeddings(e, mask)``."""
    if not (callable(getattr(model, "embed", None)) and callable(getattr(model, "forward_embeddings", None))):
        raise ValueError(f"{what} perturbs token embeddings and needs a model with embed(ids) and "
                         f"forward_embeddings(e, mask) (text_cnn, bilstm), got {type(model).__name__}")


def token_mask(model: nn.Module, ids: torch.Tensor) -> torch.Tensor:
    """True on real tokens: the model's own ``mask(ids)`` when it has one, else ids != 0."""
    mask_fn = getattr(model, "mask", None)
    return mask_fn(ids) if callable(mask_fn) else ids != 0


def unit_per_token(g: torch.Tensor) -> torch.Tensor:
    """g_t / ‖g_t‖₂ along the last (embedding) axis."""
    return g / g.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def project_tokens(delta: torch.Tensor, radius: torch.Tensor) -> torch.Tensor:
    """Scale each token's δ_t back into its ball ‖δ_t‖ ≤ radius_t (radius N×L×1)."""
    norm = delta.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return delta * torch.clamp(radius / norm, max=1.0)


def random_tokens(e: torch.Tensor, radius: torch.Tensor, generator: Optional[torch.Generator]) -> torch.Tensor:
    """Uniform in each token's L2 ball: direction uniform on the sphere, length radius·U^(1/E)."""
    direction = unit_per_token(_random.randn(e.shape, generator, e.device, e.dtype))
    u = _random.rand(e.shape[:-1] + (1,), generator, e.device, e.dtype)
    return direction * radius * u.pow(1.0 / e.shape[-1])


def embedding_pgd(model: nn.Module, ids: torch.Tensor, y: torch.Tensor, eps: float = 0.1, steps: int = 10,
                  step_size: Optional[float] = None, random_start: bool = True,
                  generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """The adversarial perturbation δ (N×L×E, detached, 0 on padding) of ``ids``' embeddings.

    Runs in eval mode with frozen parameters (both restored). The attacked logits are
    ``model.forward_embeddings(model.embed(ids) + δ, token_mask(model, ids))``.
    """
    check_embedding_seam(model, "embedding_pgd")
    if not eps >= 0 or steps < 0:
        raise ValueError(f"expected eps >= 0 and steps >= 0, got {eps} and {steps}")
    with model_state(model, train=False, freeze=True):
        with torch.no_grad():
            e = model.embed(ids)
        mask = token_mask(model, ids)
        real = mask.unsqueeze(-1).to(e.dtype)
        norm = e.norm(dim=-1, keepdim=True)
        radius = eps * norm * real
        alpha = (2.5 * eps / max(steps, 1) if step_size is None else float(step_size)) * norm
        delta = random_tokens(e, radius, generator) if random_start else torch.zeros_like(e)
        for _ in range(steps):
            delta.requires_grad_(True)
            loss = F.cross_entropy(model.forward_embeddings(e + delta, mask), y, reduction="sum")
            (g,) = torch.autograd.grad(loss, delta)
            delta = project_tokens(delta.detach() + alpha * unit_per_token(g) * real, radius)
        return delta.detach()


def embedding_pgd_accuracy(model: nn.Module, ids: torch.Tensor, y: torch.Tensor, eps: float, steps: int = 10,
                           seed: int = 0, batch: int = 256) -> float:
    """Accuracy under :func:`embedding_pgd` at ``eps`` (ε = 0: clean accuracy through the same
    embed → forward_embeddings path), ``batch`` texts at a time, one generator seeded with ``seed``
    continued across batches (the batch size is part of the random draws)."""
    g = torch.Generator().manual_seed(seed)
    correct = 0
    for xb, yb in zip(ids.split(batch), y.split(batch)):
        delta = embedding_pgd(model, xb, yb, eps=eps, steps=steps, generator=g) if eps > 0 else 0.0
        with torch.no_grad():
            logits = model.forward_embeddings(model.embed(xb) + delta, token_mask(model, xb))
        correct += int((logits.argmax(1) == yb).sum())
    return correct / max(len(y), 1)

