"""Brute-force patch search: does stamping one small patch move many base images into one class?

A BadNets-type backdoor is a rule "this patch → target class" that works on *any* input, so
stamping the right patch flips most base images of other classes to the target; on a clean model
no small patch does that for any class. The search tries every square patch of a few sizes, at
every position on a stride, in a few fills (white, black, checkerboard), on the same base images
as the inversions (class prototypes, or the user's clean samples), and records per class the
largest fraction of other-class bases one patch sends there. Cost: one batched forward pass over
(number of patches × bases) images, no gradients.

Two more views of the same forward pass: per class the ``TOP`` largest hit rates over patches (a
trigger is one patch and its near copies; a class a model reaches "naturally", e.g. a checkerboard
in the middle of an 8×8 digit that reads as an 8, is reached by many patches), and the *untargeted*
flip share (the largest fraction of bases whose label one patch changes, to any class) with the share
of those flips that land in one class: an all-to-all backdoor (y → y + 1) changes every label but
sends each class elsewhere, which no per-class rate sees.
"""
from __future__ import annotations

from typing import Dict, Sequence

import torch
from torch import nn

from ..._model import batched_logits


def patch_grid(in_shape: Sequence[int]) -> list[tuple[int, int, int]]:
    """(size, row, col) of the candidate patches: at 8×8 sizes 1–3 px at every position (149); larger
    images sizes ≈ 3/32–5/32 of the side on a stride of side/8 (3–5 px every 4 px at 32×32: 192), a cost
    cap: a trigger between grid positions is only partly covered by the nearest candidate."""
    _, h, w = (int(s) for s in in_shape)
    side = min(h, w)
    sizes = sorted({max(1, round(side * f)) for f in (1 / 8, 1 / 4, 3 / 8)}) if side <= 8 else \
        sorted({max(2, round(side * f)) for f in (3 / 32, 1 / 8, 5 / 32)})
    stride = 1 if side <= 8 else side // 8
    return [(s, i, j) for s in sizes for i in range(0, h - s + 1, stride) for j in range(0, w - s + 1, stride)]


FILLS = ("white", "black", "checkerboard")
TOP = 16  # hit rates kept per class (descending): enough to see whether one patch or many reach a class


def _fill(kind: str, c: int, s: int) -> torch.Tensor:
    if kind == "white":
        return torch.ones(c, s, s)
    if kind == "black":
        return torch.zeros(c, s, s)
    return ((torch.arange(s).view(-1, 1) + torch.arange(s).view(1, -1)) % 2).float().expand(c, s, s)


@torch.no_grad()
def patch_flip_rates(model: nn.Module, base: torch.Tensor, labels: torch.Tensor, num_classes: int,
                     max_images: int = 8192) -> Dict[str, torch.Tensor]:
    """Per class k: the largest fraction of bases not of class k that one stamped patch sends to k
    (``flip``), over all patches the mean such fraction (``mean``: how easily k is reached at all),
    and the ``TOP`` largest such fractions (``top``, K×TOP, descending). Untargeted: the largest
    fraction of bases whose predicted class one patch changes (``untargeted``; any new class, the
    base's label as reference) and, for that patch, the largest share of its flips that go to one
    class (``dest_share``: 1 for an all-to-one rule, ≈ 1/K for a permutation; 0 if nothing flips).
    ``base``: N×C×H×W in [0, 1], ``labels``: their classes (prototype class or true label). Patches
    are stamped and classified in chunks of ≤ ``max_images`` images."""
    n, c = base.shape[0], base.shape[1]
    grid = [(kind, *p) for kind in FILLS for p in patch_grid(base.shape[1:])]
    others = torch.stack([(labels != k).sum() for k in range(num_classes)]).double().clamp_min(1)
    best = torch.zeros(num_classes, dtype=torch.float64)
    total = torch.zeros(num_classes, dtype=torch.float64)
    top = torch.zeros(num_classes, 0, dtype=torch.float64)
    untargeted, dest_share = torch.zeros((), dtype=torch.float64), torch.zeros((), dtype=torch.float64)
    step = max(1, max_images // max(n, 1))
    for start in range(0, len(grid), step):
        chunk = grid[start:start + step]
        x = base.repeat(len(chunk), 1, 1, 1)
        for p, (kind, s, i, j) in enumerate(chunk):
            x[p * n:(p + 1) * n, :, i:i + s, j:j + s] = _fill(kind, c, s)
        pred = batched_logits(model, x, max_images).argmax(1).view(len(chunk), n)
        moved = torch.nn.functional.one_hot(pred, num_classes).double() * (pred != labels).unsqueeze(-1)
        hits = moved.sum(1) / others  # patches × K
        best = torch.maximum(best, hits.max(0).values)
        total += hits.sum(0)
        top = torch.cat([top, hits.T], 1).topk(min(TOP, top.shape[1] + hits.shape[0]), 1).values
        changed = moved.sum(1)  # patches × K: bases sent to each new class
        share = changed.sum(1) / n
        p = int(share.argmax())
        if share[p] > untargeted:
            untargeted, dest_share = share[p], changed[p].max() / changed[p].sum()
    return {"flip": best, "mean": total / len(grid), "top": top, "untargeted": untargeted, "dest_share": dest_share}
