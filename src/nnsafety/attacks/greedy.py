"""Greedy constrained attack on feature vectors: one feature at a time, to the edge of what it may do.

The attacker of a tabular security classifier (Spambase, phishing) changes a few features within
their constraints (``FeatureDomain``: bounds, kinds, immutable and add-only features). This attack
is the coordinate-wise search of JSMA (Papernot et al., EuroS&P 2016) in the form Grosse et al.
(ESORICS 2017) used against malware feature vectors: repeat — rank every feature not changed yet by
the first-order drop of the margin z_y − max_{i≠y} z_i that moving it to the edge of its allowed
range would give (gradient × move), evaluate the ``candidates`` best moves exactly, keep the one
that lowers the margin most — until the point is misclassified, no move lowers its margin, or
``max_changes`` features have changed (an L0 budget beside the L∞ one).

A feature's allowed range is ``FeatureDomain.project_ball`` of its ±ε·scale move, which is per
feature for L∞, so every point the model sees satisfies every constraint and lies in the ε-ball
measured in the domain's ``scale`` (tested as a property over random domains).
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from ..domains import Domain, FeatureDomain
from .base import _model_guard, check_inputs, margin_loss, register_attack_fn


def greedy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, domain: Optional[Domain] = None,
           max_changes: Optional[int] = None, candidates: int = 8) -> torch.Tensor:
    """Untargeted greedy feature attack in the L∞ ε-ball (units of ``domain.scale``) ∩ ``domain``.

    ``max_changes``: at most this many features change per point (default: all of them);
    ``candidates``: how many of the gradient's best single-feature moves are evaluated exactly per
    step (1: pure first-order choice). Returns the first misclassified point found, else the last.
    """
    if not isinstance(domain, FeatureDomain):
        raise ValueError(f"expected domain a FeatureDomain (the greedy attack changes features), "
                         f"got {type(domain).__name__}")
    check_inputs(x, y, eps, "Linf", domain)
    d = domain.dim
    max_changes = d if max_changes is None else max_changes
    if not (isinstance(max_changes, int) and max_changes >= 1 and isinstance(candidates, int) and candidates >= 1):
        raise ValueError(f"expected max_changes and candidates integers >= 1, got {max_changes!r} and {candidates!r}")
    x = x.detach()
    if x.shape[0] == 0 or eps == 0:
        return x.clone()
    step = eps * domain.unit(x)
    # each feature's farthest valid move up and down, alone (L∞ constraints are per feature)
    moves = torch.stack([domain.project_ball(x + step, x, eps, "Linf") - x,
                         domain.project_ball(x - step, x, eps, "Linf") - x], 1)  # N×2×D
    out, xa = x.clone(), x.clone()
    free = moves.abs().amax(1) > 0  # N×D: features that can still change
    active = torch.arange(x.shape[0], device=x.device)
    done = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)  # misclassified: out holds it
    with _model_guard(model) as net:
        for t in range(max_changes + 1):
            xv = xa[active].requires_grad_(True)
            margin = -margin_loss(net(xv), y[active])  # z_y − max_{i≠y} z_i: negative once misclassified
            (g,) = torch.autograd.grad(margin.sum(), xv)
            margin, rows = margin.detach(), active
            fooled = margin < 0
            out[rows[fooled]] = xa[rows[fooled]]
            done[rows[fooled]] = True
            if t == max_changes:  # this pass only checked the last allowed change
                break
            # first-order margin change of each move; changed or immovable features are out
            est = (g[:, None, :] * moves[rows]).masked_fill(~free[rows][:, None, :], float("inf"))
            est = est.masked_fill(moves[rows] == 0, float("inf")).flatten(1)  # n×2D
            k = min(candidates, est.shape[1])
            best = est.topk(k, dim=1, largest=False)
            cand = xa[rows][:, None, :].repeat(1, k, 1)  # n×k×D, each with one more feature moved
            feat = best.indices % d
            delta = moves[rows].flatten(1).gather(1, best.indices)
            cand.scatter_add_(2, feat[..., None], delta[..., None])
            with torch.no_grad():
                m = -margin_loss(net(cand.flatten(0, 1)), y[rows].repeat_interleave(k)).view(-1, k)
            m = m.masked_fill(~torch.isfinite(best.values), float("inf"))
            pick = m.argmin(1)
            improves = m.gather(1, pick[:, None]).squeeze(1) < margin
            go = improves & ~fooled
            idx = go.nonzero().squeeze(1)
            xa[rows[idx]] = cand[idx, pick[idx]]
            free[rows[idx], feat[idx, pick[idx]]] = False
            active = rows[go]
            if active.numel() == 0:
                break
    out[~done] = xa[~done]
    return domain.project_ball(out, x, eps, "Linf")  # identity on valid points; guards float slack


Greedy = register_attack_fn("greedy", greedy, "Greedy", "Class form of :func:`greedy`.", domains=("feature",))
