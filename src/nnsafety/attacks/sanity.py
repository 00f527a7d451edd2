"""Checks that catch the known ways a robust accuracy lies (Croce & Hein 2020, AutoAttack's checks;
Carlini et al. 2019 "On evaluating adversarial robustness"; Athalye et al. 2018 on masking).

Each check returns a :class:`SanityCheck` (name, passed, message); :func:`warn_failed` prints the
failed ones with ``warnings.warn(..., SanityWarning)``. AutoAttack and the ε-curves run them all.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass
from typing import List, Optional, Sequence

import torch
from torch import nn

from .base import _model_guard, check_inputs, margin_loss, predict


class SanityWarning(UserWarning):
    """A robustness evaluation that is probably not trustworthy."""


@dataclass
class SanityCheck:
    """The verdict of one check."""

    name: str
    passed: bool
    message: str

    def to_dict(self) -> dict:
        return asdict(self)


def warn_failed(checks: Sequence[SanityCheck]) -> None:
    for c in checks:
        if not c.passed:
            warnings.warn(f"[{c.name}] {c.message}", SanityWarning, stacklevel=3)


def check_probability_outputs(logits: torch.Tensor) -> SanityCheck:
    """Outputs in [0, 1] summing to 1 (softmax inside the model) or log-probabilities: the CE and
    DLR losses then saturate and gradient attacks look weaker than they are (AutoAttack's check)."""
    name = "logits_not_probabilities"
    if logits.numel() == 0:
        return SanityCheck(name, True, "no points")
    probs = bool(((logits >= 0) & (logits <= 1)).all() and
                 torch.allclose(logits.sum(1), torch.ones_like(logits[:, 0]), atol=1e-3))
    logprobs = bool((logits <= 0).all() and
                    torch.allclose(logits.logsumexp(1), torch.zeros_like(logits[:, 0]), atol=1e-3))
    if probs or logprobs:
        kind = "probabilities" if probs else "log-probabilities"
        return SanityCheck(name, False, f"the model outputs look like {kind}: remove the final "
                           "softmax so attacks see logits (saturated losses hide adversarials)")
    return SanityCheck(name, True, "outputs are unnormalized logits")


def check_gradients(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                    max_fraction: float = 0.01) -> SanityCheck:
    """Input gradients of the margin loss that are exactly zero or not finite for more than
    ``max_fraction`` of the points: gradient masking (rounding, quantization, saturated layers)."""
    name = "gradients_nonzero_finite"
    if x.shape[0] == 0:
        return SanityCheck(name, True, "no points")
    with _model_guard(model):
        xr = x.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(margin_loss(model(xr), y).sum(), xr)
    g = g.flatten(1)
    bad = (~torch.isfinite(g).all(1)) | (g.abs().sum(1) == 0)
    frac = bad.float().mean().item()
    if frac > max_fraction:
        return SanityCheck(name, False, f"{bad.sum().item()} of {len(bad)} points have zero or "
                           "non-finite input gradients: gradient masking, white-box attacks are "
                           "unreliable (check the Square and ε-growth verdicts)")
    return SanityCheck(name, True, f"{bad.sum().item()} of {len(bad)} points with zero/NaN gradients")


def check_deterministic(model: nn.Module, x: torch.Tensor, n_calls: int = 3,
                        rtol: float = 1e-4) -> SanityCheck:
    """Different outputs for identical calls (in eval mode, as the attacks see the model): a
    randomized defense, to be evaluated with EOT (``autoattack(version="rand")``)."""
    name = "outputs_deterministic"
    if x.shape[0] == 0:
        return SanityCheck(name, True, "no points")
    with _model_guard(model), torch.no_grad():
        outs = [model(x) for _ in range(n_calls)]
    scale = outs[0].abs().max().item() + 1.0
    diff = max((o - outs[0]).abs().max().item() for o in outs[1:])
    if not diff <= rtol * scale:
        return SanityCheck(name, False, f"outputs differ across {n_calls} identical calls (max "
                           f"difference {diff:.3g}): the model is randomized; use version='rand' "
                           "(EOT) and do not trust single-pass attacks")
    return SanityCheck(name, True, "identical calls give identical outputs")


def check_clean_accuracy(clean_accuracy: float, num_classes: int) -> SanityCheck:
    """Clean accuracy near chance (below max(2/K, 0.2)): wrong labels, normalization or weights."""
    name = "clean_accuracy"
    floor = max(2.0 / num_classes, 0.2)
    if clean_accuracy < floor:
        return SanityCheck(name, False, f"clean accuracy {clean_accuracy:.3f} is below "
                           f"{floor:.2f}: check the labels, the input range [0, 1] and the weights")
    return SanityCheck(name, True, f"clean accuracy {clean_accuracy:.3f}")


def check_black_box(n_black_box_only: int, n: int) -> SanityCheck:
    """Square (black-box) broke points every white-box attack missed: the gradients mislead."""
    name = "black_box_not_stronger"
    if n_black_box_only > 0:
        return SanityCheck(name, False, f"Square broke {n_black_box_only} of {n} points that the "
                           "gradient attacks missed: a sign of gradient masking")
    return SanityCheck(name, True, "the black-box attack found nothing the white-box ones missed")


def check_eps_monotonic(eps_list: Sequence[float], accuracies: Sequence[float], n: int,
                        name: str = "robust_accuracy_decreases_with_eps") -> SanityCheck:
    """Robust accuracy must not rise with ε (beyond sampling noise 1/n + 0.01), and must fall at
    all when ε grows to the size of the box: otherwise the attack, not the model, failed."""
    tol = 1.0 / max(n, 1) + 0.01
    pairs = sorted(zip(eps_list, accuracies))
    for (e0, a0), (e1, a1) in zip(pairs, pairs[1:]):
        if a1 > a0 + tol:
            return SanityCheck(name, False, f"robust accuracy rises from {a0:.3f} at ε={e0:g} to "
                               f"{a1:.3f} at ε={e1:g}: the attack is unreliable")
    (e_lo, a_lo), (e_hi, a_hi) = pairs[0], pairs[-1]
    if len(pairs) > 1 and a_lo > tol and a_hi >= a_lo - tol:
        return SanityCheck(name, False, f"robust accuracy does not decrease from ε={e_lo:g} "
                           f"({a_lo:.3f}) to ε={e_hi:g} ({a_hi:.3f}): gradient masking suspected")
    return SanityCheck(name, True, "robust accuracy decreases with ε")


def eps_growth(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, norm: str = "Linf",
               steps: int = 20, max_points: int = 500, seed: int = 0) -> SanityCheck:
    """PGD-``steps`` (margin loss) at ε·2^k up to half the box (L∞ 0.5, L2 ½√D), then
    :func:`check_eps_monotonic`; and at half the box, where any image can be pushed far into
    another class, robust accuracy must be ≈ 0 (≤ 5 % + noise): otherwise the gradients fail."""
    from .pgd import pgd  # local: pgd imports base only, no cycle, but keeps this module light

    x, y = x[:max_points], y[:max_points]
    cap = 0.5 if norm == "Linf" else 0.5 * math.sqrt(x[0].numel() if x.shape[0] else 1)
    grid = [eps]
    while grid[-1] < cap and eps > 0:
        grid.append(min(grid[-1] * 2, cap))
    gen = torch.Generator().manual_seed(seed)
    accs = []
    for e in grid:
        xa = pgd(model, x, y, e, norm, steps=steps, loss="margin", generator=gen)
        with _model_guard(model):
            accs.append((predict(model, xa) == y).float().mean().item() if len(y) else 0.0)
    verdict = check_eps_monotonic(grid, accs, len(y))
    tol = 1.0 / max(len(y), 1) + 0.01
    if verdict.passed and accs[-1] > 0.05 + tol:
        return SanityCheck(verdict.name, False, f"robust accuracy is still {accs[-1]:.3f} at "
                           f"ε={grid[-1]:g} (half the box): the attack, not the model, fails; "
                           "gradient masking suspected")
    return verdict


def sanity_checks(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: Optional[float] = None,
                  norm: str = "Linf", max_points: int = 500, warn: bool = True, seed: int = 0) -> List[SanityCheck]:
    """The model-level checks (outputs, gradients, determinism, clean accuracy; ε-growth when
    ``eps`` is given, its PGD seeded with ``seed``) on the first ``max_points`` points; failed ones
    are also warned."""
    check_inputs(x, y, eps, norm)
    xs, ys = x[:max_points], y[:max_points]
    with _model_guard(model), torch.no_grad():
        logits = model(xs)
    acc = (logits.argmax(1) == ys).float().mean().item() if len(ys) else 1.0
    checks = [check_probability_outputs(logits), check_gradients(model, xs, ys),
              check_deterministic(model, xs[:64]), check_clean_accuracy(acc, logits.shape[1])]
    if eps is not None:
        checks.append(eps_growth(model, xs, ys, eps, norm, max_points=max_points, seed=seed))
    if warn:
        warn_failed(checks)
    return checks
