"""Noise response for text: titration as a growing fraction of tokens is replaced, masked or deleted.

The token families of ``TokenDomain.noise_families``, registered in the noise registry for the token
domain so ``noise_response(model, ids, y, family="token_replace", domain=TokenDomain(...))`` runs
the image sweep unchanged (same curves, titration, collapse score). ``level`` is the probability
that each real token is hit:
- ``token_replace``: the token becomes a uniform random vocabulary word (ids 2 .. V−1: never
  ``[PAD]``/``[UNK]``);
- ``token_mask``: the token becomes ``[UNK]`` (the word-level analogue of masking);
- ``token_delete``: the token is removed, the rest shifts left, padding refills the end.
``text_noise_response`` adds the data-free probes: random token sequences whose lengths follow the
training length distribution (Erichson et al.'s noise-response idea applied to token inputs).
Gaussian noise in embedding space (``embedding_gaussian``) is not an input-level family and is not
implemented here.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import nn

from .. import _random
from ..domains import TokenDomain
from .noise_response import NoiseResponseResult, noise_response, register_noise


def _token_domain(project) -> TokenDomain:
    # noise_response binds the domain's own ``project``; the vocabulary size and ids come from it
    domain = getattr(project, "__self__", None)
    if not isinstance(domain, TokenDomain):
        raise ValueError("token noise needs a TokenDomain: call noise_response(..., domain=TokenDomain(...))")
    return domain


def _hits(x: torch.Tensor, level: torch.Tensor, generator, domain: TokenDomain) -> torch.Tensor:
    u = _random.rand(x.shape, generator, x.device)
    return (u < level.to(u.dtype)[:, None]) & ~domain.frozen(x)


@register_noise("token_replace", domains=("token",))
def token_replace(x: torch.Tensor, level: torch.Tensor, generator, project=None) -> torch.Tensor:
    """Each real token becomes a uniform random word (not pad/unk) with probability ``level``."""
    d = _token_domain(project)
    low = 1 + max(d.pad_id, -1 if d.unk_id is None else d.unk_id)
    words = _random.randint(low, d.vocab_size, x.shape, generator, x.device)
    return torch.where(_hits(x, level, generator, d), words, x)


@register_noise("token_mask", domains=("token",))
def token_mask(x: torch.Tensor, level: torch.Tensor, generator, project=None) -> torch.Tensor:
    """Each real token becomes ``[UNK]`` with probability ``level``."""
    d = _token_domain(project)
    if d.unk_id is None:
        raise ValueError("token_mask needs a TokenDomain with an unk_id, got unk_id=None")
    return torch.where(_hits(x, level, generator, d), torch.full_like(x, d.unk_id), x)


@register_noise("token_delete", domains=("token",))
def token_delete(x: torch.Tensor, level: torch.Tensor, generator, project=None) -> torch.Tensor:
    """Each real token is deleted with probability ``level``; survivors keep their order, left-aligned."""
    d = _token_domain(project)
    keep = ~_hits(x, level, generator, d) & (x != d.pad_id)
    # a stable sort on "not kept" moves the survivors to the front in their order
    order = (~keep).to(torch.int8).argsort(dim=1, stable=True)
    out = x.gather(1, order)
    return torch.where(keep.gather(1, order), out, torch.full_like(out, d.pad_id))


def random_token_probes(n: int, lengths: torch.Tensor, domain: TokenDomain, max_len: int,
                        generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """``n`` sequences of uniform random words (ids after pad/unk) with lengths drawn from ``lengths``
    (e.g. the training texts' real-token counts), right-padded to ``max_len``."""
    lengths = torch.as_tensor(lengths).flatten().clamp(1, max_len)
    if lengths.numel() == 0:
        raise ValueError("expected a non-empty list of lengths for the random token probes")
    pick = lengths[_random.randint(0, lengths.numel(), (n,), generator)]
    low = 1 + max(domain.pad_id, -1 if domain.unk_id is None else domain.unk_id)
    ids = _random.randint(low, domain.vocab_size, (n, max_len), generator)
    real = torch.arange(max_len)[None, :] < pick[:, None]
    return torch.where(real, ids, torch.full_like(ids, domain.pad_id))


def text_noise_response(model: nn.Module, domain: TokenDomain, ids: Optional[torch.Tensor] = None,
                        y: Optional[torch.Tensor] = None, family: str = "token_replace",
                        levels: Optional[Sequence[float]] = None, n_probes: int = 500,
                        lengths: Optional[torch.Tensor] = None, max_len: Optional[int] = None,
                        seed: int = 0, **kwargs) -> NoiseResponseResult:
    """Token-noise titration on real texts ``ids`` (with labels ``y``), or data-free on random
    token probes (``ids=None``; ``lengths`` the training lengths, ``max_len`` the model's L)."""
    g = torch.Generator().manual_seed(int(seed))
    data_free = ids is None
    if data_free:
        if lengths is None or max_len is None:
            raise ValueError("data-free text probes need lengths (training real-token counts) and max_len")
        ids, y = random_token_probes(n_probes, lengths, domain, int(max_len), g), None
    res = noise_response(model, ids, y, family=family, levels=levels, n_probes=n_probes, generator=g,
                         domain=domain, **kwargs)
    if data_free:
        res.data_free = True
        res.notes.append("data-free: random token sequences with the training length distribution")
    return res
