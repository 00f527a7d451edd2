"""Functionality-preserving evasion attacks on byte classifiers (``ByteDomain``: int64 N×L bytes,
pad 256), for models such as MalConv that expose ``embed(ids)`` and ``forward_embeddings(e)``.

Every attack changes only the bytes where ``mutable`` is True (the editable regions a PE reader
computes: ``nnsafety.data.pe``; appended bytes are mutable pad positions) and ends each step with
``ByteDomain.project``, so nothing outside the regions can change. Each takes ``(model, x, y,
mutable)`` and returns the adversarial batch; a row stops changing once the model misclassifies it.

White-box (gradient w.r.t. the byte embeddings of the logit margin max_{i≠y} z_i − z_y, which,
unlike the cross-entropy, does not vanish on files scored 1.0; Z the 256 byte embeddings):
- ``line`` (Kolosnjaji et al. 2018, Demetrio et al. 2019): per byte, w = g/‖g‖; among the bytes b
  with s_b = w·(Z_b − z) > 0 take the one closest to the line z + s w. Used by ``padding``
  (appended bytes), ``dos_header`` (partial DOS) and ``full_dos`` (DOS header + stub).
- ``fgsm`` (Suciu et al. 2019): z' = z + ε sign(g) mapped to the nearest byte embedding, iterated;
  ``section_slack``.
- ``kreuk`` (Kreuk et al. 2018): a continuous payload embedding moved by ε g/‖g‖ each step, mapped
  to the nearest byte embeddings to evaluate; ``kreuk`` on appended bytes.
Black-box: ``byte_search``, random search over the editable bytes with a query budget: each round
proposes ``population`` copies with ``k`` random editable bytes redrawn, keeps the best if it lowers
the true-class probability (score queries only).
"""
from __future__ import annotations

from typing import Callable, Optional

import torch
from torch import nn

from ..domains.bytes import ByteDomain
from .base import _model_guard, make_generator, margin_loss, register_attack_fn

Update = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, dict], torch.Tensor]


def byte_embeddings(model: nn.Module) -> torch.Tensor:
    """The 256 byte embeddings Z (256×D) as the model embeds them."""
    ids = torch.arange(256, device=next(model.parameters()).device)[None]
    return model.embed(ids)[0, :256].detach()


def nearest_byte(z: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """argmin_b ‖table_b − z‖₂ for each row of z (P×D) → P int64."""
    return torch.cdist(z, table).argmin(dim=1)


def line_bytes(z: torch.Tensor, g: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """Kolosnjaji et al. 2018 / Demetrio et al. 2019: the byte whose embedding is closest to the
    ascent line z + s·g/‖g‖ with s > 0 (−1 where no byte lies ahead)."""
    w = g / g.norm(dim=1, keepdim=True).clamp_min(1e-12)
    diff = table[None] - z[:, None]  # P×256×D
    s = (diff * w[:, None]).sum(dim=2)
    dist = (diff - s[..., None] * w[:, None]).norm(dim=2)
    dist = torch.where(s > 0, dist, torch.full_like(dist, float("inf")))
    best = dist.argmin(dim=1)
    return torch.where(torch.isfinite(dist.min(dim=1).values), best, torch.full_like(best, -1))


def _check(model: nn.Module, x: torch.Tensor, y: torch.Tensor, mutable: Optional[torch.Tensor]) -> torch.Tensor:
    ByteDomain().check(x)
    if not isinstance(y, torch.Tensor) or y.dtype != torch.long or y.shape != (x.shape[0],):
        raise ValueError(f"expected y to be int64 of shape ({x.shape[0]},), got {getattr(y, 'shape', y)}")
    if mutable is None or mutable.shape != x.shape:
        got = None if mutable is None else tuple(mutable.shape)
        raise ValueError(f"expected a mutable mask of shape {tuple(x.shape)} (the editable regions), got {got}")
    if not (hasattr(model, "embed") and hasattr(model, "forward_embeddings")):
        raise ValueError("expected a byte model with embed(ids) and forward_embeddings(e) (e.g. malconv)")
    return mutable.to(torch.bool)


def gradient_attack(model: nn.Module, x: torch.Tensor, y: torch.Tensor, mutable: torch.Tensor, steps: int,
                    rule: str, eps: float = 1.0) -> torch.Tensor:
    """The white-box loop shared by the gradient attacks (``rule``: line, fgsm or kreuk)."""
    mutable = _check(model, x, y, mutable)
    domain = ByteDomain()
    length = x.shape[1]
    with _model_guard(model) as net:
        table = byte_embeddings(net)
        x_adv = x.clone()
        payload = None  # kreuk: the continuous embedding of the editable bytes
        for _ in range(int(steps)):
            e = net.embed(x_adv).detach().requires_grad_(True)
            logits = net.forward_embeddings(e)
            active = logits.argmax(dim=1) == y
            if not active.any():
                break
            (g,) = torch.autograd.grad(margin_loss(logits, y).sum(), e)
            where = mutable & active[:, None]
            rows, cols = where.nonzero(as_tuple=True)
            z, gz = e.detach()[rows, cols], g[:, :length][rows, cols]
            if rule == "line":
                new = line_bytes(z, gz, table)
                new = torch.where(new >= 0, new, x_adv[rows, cols])
            elif rule == "fgsm":
                new = nearest_byte(z + eps * gz.sign(), table)
            else:
                full = e.detach()[:, :length].clone() if payload is None else payload
                full[rows, cols] = full[rows, cols] + eps * gz / gz.norm(dim=1, keepdim=True).clamp_min(1e-12)
                payload, new = full, nearest_byte(full[rows, cols], table)
            proposal = x_adv.clone()
            proposal[rows, cols] = new
            x_adv = domain.project(proposal, x, mutable)
    return x_adv


@torch.no_grad()
def byte_search(model: nn.Module, x: torch.Tensor, y: torch.Tensor, mutable: Optional[torch.Tensor] = None, queries: int = 500,
                population: int = 10, k: int = 8, seed: Optional[int] = 0) -> torch.Tensor:
    """Black-box random search (see module docstring); at most ``queries`` model calls per file."""
    mutable = _check(model, x, y, mutable)
    domain = ByteDomain()
    gen = make_generator(seed=seed)
    x_adv = x.clone()
    with _model_guard(model) as net:
        for i in range(x.shape[0]):
            pos = mutable[i].nonzero().squeeze(1)
            if pos.numel() == 0:
                continue
            best = net(x_adv[i:i + 1]).softmax(dim=1)[0, y[i]]
            used = 1
            while used + population <= queries and best >= 0.5:
                cand = x_adv[i:i + 1].repeat(population, 1)
                pick = pos[torch.randint(0, pos.numel(), (population, k), generator=gen)]
                cand.scatter_(1, pick, torch.randint(0, 256, (population, k), generator=gen))
                cand = domain.project(cand, x[i:i + 1].expand_as(cand), mutable[i:i + 1].expand_as(cand))
                p = net(cand).softmax(dim=1)[:, y[i]]
                used += population
                if p.min() < best:
                    best, x_adv[i] = p.min(), cand[p.argmin()]
    return x_adv


def line_attack(model: nn.Module, x: torch.Tensor, y: torch.Tensor, mutable: Optional[torch.Tensor] = None,
                steps: int = 50, append: int = 0) -> torch.Tensor:
    """Kolosnjaji et al. 2018 / Demetrio et al. 2019 byte updates (``line``); ``append`` is the
    number of appended bytes the file driver adds as mutable pad positions."""
    return gradient_attack(model, x, y, mutable, steps, "line")


def fgsm_attack(model: nn.Module, x: torch.Tensor, y: torch.Tensor, mutable: Optional[torch.Tensor] = None,
                steps: int = 50, eps: float = 1.0, append: int = 0) -> torch.Tensor:
    """Suciu et al. 2019: embedding FGSM steps of ``eps`` mapped to the nearest byte (``fgsm``)."""
    return gradient_attack(model, x, y, mutable, steps, "fgsm", eps)


def kreuk_attack(model: nn.Module, x: torch.Tensor, y: torch.Tensor, mutable: Optional[torch.Tensor] = None,
                 steps: int = 50, eps: float = 1.0, append: int = 1000) -> torch.Tensor:
    """Kreuk et al. 2018: a continuous payload embedding, L2-normalized steps of ``eps`` (``kreuk``)."""
    return gradient_attack(model, x, y, mutable, steps, "kreuk", eps)


def _register(name: str, fn, cls_name: str, doc: str, regions, **defaults):
    """The class form, with the PE regions the file driver (``evade_files``) edits."""
    cls = register_attack_fn(name, fn, cls_name, doc, domains=("bytes",), defaults=defaults or None)
    cls.regions = tuple(regions)
    return cls


DOSHeader = _register("dos_header", line_attack, "DOSHeader", "Partial DOS header attack (Demetrio et al. 2019): "
                      "the 58 bytes between MZ and e_lfanew.", ("dos_header",))
FullDOS = _register("full_dos", line_attack, "FullDOS", "Full DOS attack (Demetrio et al. 2021): DOS header bytes "
                    "and the whole DOS stub.", ("dos_header", "dos_stub"))
Padding = _register("padding", line_attack, "Padding", "Padding attack (Kolosnjaji et al. 2018): ``append`` bytes "
                    "after the file (default 1,000) and the existing overlay.", ("overlay",), append=1000)
SectionSlack = _register("section_slack", fgsm_attack, "SectionSlack", "Slack attack (Suciu et al. 2019): iterated "
                         "embedding FGSM in the section slack space.", ("section_slack",))
Kreuk = _register("kreuk", kreuk_attack, "Kreuk", "Kreuk et al. 2018: an embedding-space payload of ``append`` "
                  "bytes mapped to the nearest bytes.", ("overlay",))
ByteSearch = _register("byte_search", byte_search, "ByteSearch", "Black-box random byte search in the full DOS "
                       "region with a query budget.", ("dos_header", "dos_stub"))
