"""GAMMA (Demetrio et al., IEEE TIFS 2021, "Functionality-preserving black-box optimization of
adversarial Windows malware"), padding variant: append content of benign sections to the file.

The attacker holds k chunks of benign content (``benign_sections``: the raw bytes of sections of
goodware). An individual s ∈ [0, 1]^k injects the first ⌊s_j·|c_j|⌋ bytes of every chunk c_j,
concatenated, after the end of the file (the overlay: the loader never maps it, so the program is
unchanged). The objective, minimized with score queries only, is the paper's eq. (3):

    F(s) = P(true class | x ⊕ inject(s)) + λ·|inject(s)|      (λ = ``size_penalty`` per byte)

by a genetic search as in the paper: a random initial population, then per generation the better
half is kept (elitism), children are uniform crossovers of two random survivors, each gene is
redrawn with probability ``mutation``; the run stops when the next generation would exceed
``queries`` model calls. The best individual (lowest F) is returned. Section *injection* (new
section headers) is not implemented: it changes the section table, which ``check_edit`` refuses.
"""
from __future__ import annotations

from typing import List, Optional, Sequence

import torch
from torch import nn

from ..data.pe import read_pe
from ..domains.bytes import ByteDomain
from .base import _model_guard, make_generator
from .bytes import _check, _register


def benign_sections(files: Sequence[bytes], k: int = 10, max_bytes: int = 4096, min_bytes: int = 256) -> List[bytes]:
    """Up to ``k`` chunks of benign content: the raw bytes of the sections of ``files`` (in order,
    sections of at least ``min_bytes`` that are not all zero), each cut at ``max_bytes``."""
    chunks: List[bytes] = []
    for data in files:
        for _, _, _, ptr, raw, _ in read_pe(data).sections:
            c = data[ptr:ptr + min(raw, max_bytes)]
            if len(c) >= min_bytes and any(c):
                chunks.append(c)
            if len(chunks) == k:
                return chunks
    if not chunks:
        raise ValueError(f"expected benign PE files with sections of at least {min_bytes} bytes, found none")
    return chunks


def _payload(s: torch.Tensor, chunks: Sequence[torch.Tensor]) -> torch.Tensor:
    return torch.cat([c[: int(v * c.numel())] for v, c in zip(s.tolist(), chunks)])


@torch.no_grad()
def gamma(model: nn.Module, x: torch.Tensor, y: torch.Tensor, mutable: Optional[torch.Tensor] = None,
          benign: Sequence[bytes] = (), queries: int = 500, population: int = 20, size_penalty: float = 1e-6,
          mutation: float = 0.3, seed: Optional[int] = 0, append: int = 0) -> torch.Tensor:
    """GAMMA padding (module docstring). ``x`` ends with pad positions that are ``mutable`` (the file
    driver appends ``append`` of them: at least the total size of ``benign``); the payload fills
    them from the file's end, the rest stays padding (the file grows only by the payload)."""
    mutable = _check(model, x, y, mutable)
    if not benign:
        raise ValueError("expected benign section content (benign=benign_sections(goodware files)), got none")
    if population < 2 or queries < population or not 0 <= mutation <= 1 or size_penalty < 0:
        raise ValueError(f"expected population >= 2, queries >= population, mutation in [0, 1], size_penalty >= 0, "
                         f"got {population}, {queries}, {mutation}, {size_penalty}")
    domain = ByteDomain()
    chunks = [torch.tensor(list(c), dtype=torch.int64) for c in benign]
    gen = make_generator(seed=seed)
    start = domain.lengths(x)
    x_adv = x.clone()
    with _model_guard(model) as net:
        for i in range(x.shape[0]):
            free = int((mutable[i, start[i]:]).sum())

            def inject(s):
                p = _payload(s, chunks)[:free]
                row = x[i].clone()
                row[start[i]:start[i] + p.numel()] = p
                return row, p.numel()

            def fitness(pop):
                rows, sizes = zip(*(inject(s) for s in pop))
                prob = net(domain.project(torch.stack(rows), x[i:i + 1].expand(len(rows), -1),
                                          mutable[i:i + 1].expand(len(rows), -1))).softmax(1)[:, y[i]]
                return prob.double() + size_penalty * torch.tensor(sizes, dtype=torch.float64)

            pop = torch.rand(population, len(chunks), generator=gen)
            score, used = fitness(pop), population
            while used + population <= queries:
                keep = score.argsort()[: population // 2]
                parents = pop[keep]
                a = parents[torch.randint(0, len(keep), (population - len(keep),), generator=gen)]
                b = parents[torch.randint(0, len(keep), (population - len(keep),), generator=gen)]
                child = torch.where(torch.rand(a.shape, generator=gen) < 0.5, a, b)
                redraw = torch.rand(child.shape, generator=gen) < mutation
                child = torch.where(redraw, torch.rand(child.shape, generator=gen), child)
                pop = torch.cat([parents, child])
                score = torch.cat([score[keep], fitness(child)])
                used += len(child)
            x_adv[i] = domain.project(inject(pop[score.argmin()])[0][None], x[i:i + 1], mutable[i:i + 1])[0]
    return x_adv


Gamma = _register("gamma", gamma, "Gamma", "GAMMA padding (Demetrio et al. 2021): genetic black-box search over how "
                  "much content of benign sections to append, with a size penalty.", ("overlay",), append=40960)
Gamma.append_pad = True  # the driver appends padding: the file grows only by the injected payload
