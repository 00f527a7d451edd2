"""Adversarial training: PGD-AT, TRADES, Fast-AT and the project's AugMix + PGD min–max objective.

The inner maximization always uses the project's one PGD (``nnsafety.attacks.pgd``) on the bare
module (``ctx.module``, so DDP never synchronizes inner gradients). BatchNorm choice: the attack
runs the model in eval mode (running statistics, no statistic updates from the search, as in the
TRADES reference code; ``pgd`` restores the train mode afterwards), the outer loss runs in train
mode. Defaults are for digits-scale inputs in [0, 1]: ε = 0.1 (the evaluation ε of this project),
10 steps of 2.5·ε/10 (Madry et al.'s step rule, ``pgd``'s default). For CIFAR use e.g.
``eps=0.0314, steps=7, step_size=0.0078`` (Madry et al.) or ``steps=10, step_size=0.0078`` (TRADES).
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from ...attacks import pgd
from ...augment import augmix, jsd_loss
from ._common import is_number, need
from .augmix import check_augmix_args
from .base import Method, MethodOutput, register_method

NORMS = ("Linf", "L2")


def _check_attack_args(eps, steps, step_size, norm) -> None:
    need(is_number(eps) and eps > 0, "eps > 0 (pixel units)", eps)
    need(isinstance(steps, int) and steps >= 1, "steps an integer >= 1", steps)
    need(step_size is None or (is_number(step_size) and step_size > 0), "step_size None or > 0", step_size)
    need(norm in NORMS, f"norm one of {', '.join(NORMS)}", norm)


class _Attacked(Method):
    """Stores ε, steps, step size and norm; ``attack`` runs the shared PGD on the bare module."""

    random_start = True

    def attack(self, module: nn.Module, x, y, ctx, steps=None, step_size=None, target: Optional[nn.Module] = None):
        return pgd(target if target is not None else module, x, y, eps=self.eps, norm=self.norm,
                   steps=self.steps if steps is None else steps,
                   step_size=self.step_size if step_size is None else step_size,
                   random_start=self.random_start, generator=ctx.generator)


@register_method("pgd_at")
class PGDAT(_Attacked):
    """Madry et al. (ICLR 2018): min_θ E max_{‖δ‖≤ε} CE(h(x + δ), y), inner max = PGD from a random start.

    ``eps``, ``step_size`` in pixel units; ``step_size`` None = 2.5·ε/steps.
    """

    def __init__(self, eps: float = 0.1, steps: int = 10, step_size: Optional[float] = None,
                 norm: str = "Linf") -> None:
        _check_attack_args(eps, steps, step_size, norm)
        self.eps, self.steps, self.step_size, self.norm = eps, steps, step_size, norm

    def loss(self, model, x, y, ctx):
        logits = model(self.attack(ctx.module, x, y, ctx))
        return MethodOutput(F.cross_entropy(logits, y, label_smoothing=ctx.label_smoothing), logits)


@register_method("fast_at")
class FastAT(PGDAT):
    """Fast adversarial training (Wong et al., ICLR 2020): one FGSM step of 1.25·ε from a uniform
    random start in the ε-ball (``pgd`` with steps=1). ``step_size`` None = 1.25·ε."""

    def __init__(self, eps: float = 0.1, step_size: Optional[float] = None, norm: str = "Linf") -> None:
        super().__init__(eps=eps, steps=1, step_size=step_size, norm=norm)

    def loss(self, model, x, y, ctx):
        x_adv = self.attack(ctx.module, x, y, ctx, steps=1, step_size=self.step_size or 1.25 * self.eps)
        logits = model(x_adv)
        return MethodOutput(F.cross_entropy(logits, y, label_smoothing=ctx.label_smoothing), logits)


class _KLObjective(nn.Module):
    """Two logits [0, KL(p_clean ‖ softmax(h(x')))] per sample: CE at label 0 is softplus(KL).

    softplus is increasing, so ∇ₓ CE = σ(KL)·∇ₓ KL with σ(KL) > 0 per sample; PGD's sign (L∞) and
    unit-norm (L2) steps are therefore exactly the steps on the TRADES KL itself, which lets TRADES
    use the shared ``pgd`` with its "ce" loss. p_clean is computed on first call, i.e. inside
    ``pgd``'s eval-mode guard, as the TRADES code does (``model.eval()`` before the inner loop).
    """

    def __init__(self, model: nn.Module, x_clean: torch.Tensor) -> None:
        super().__init__()
        self.model, self.x_clean, self.log_p_clean = model, x_clean, None

    def forward(self, x):
        if self.log_p_clean is None:
            with torch.no_grad():
                self.log_p_clean = F.log_softmax(self.model(self.x_clean), dim=1)
        lp = self.log_p_clean
        kl = (lp.exp() * (lp - F.log_softmax(self.model(x), dim=1))).sum(dim=1)
        return torch.stack([torch.zeros_like(kl), kl], dim=1)


@register_method("trades")
class TRADES(_Attacked):
    """TRADES (Zhang et al., ICML 2019): CE(h(x), y) + β·KL(h(x) ‖ h(x')), x' = argmax_{‖x'−x‖≤ε} KL.

    Inner max: PGD on the KL (see ``_KLObjective``) from ``pgd``'s uniform random start (the
    reference starts at x + 0.001·N(0, I)); ``beta`` 6 (paper). Outer loss on one forward of
    [x; x'] (one DDP forward per step; BatchNorm normalizes the joint batch).
    """

    def __init__(self, beta: float = 6.0, eps: float = 0.1, steps: int = 10, step_size: Optional[float] = None,
                 norm: str = "Linf") -> None:
        need(is_number(beta) and beta >= 0, "beta >= 0", beta)
        _check_attack_args(eps, steps, step_size, norm)
        self.beta, self.eps, self.steps, self.step_size, self.norm = beta, eps, steps, step_size, norm

    def loss(self, model, x, y, ctx):
        zeros = torch.zeros_like(y)
        x_adv = self.attack(ctx.module, x, zeros, ctx, target=_KLObjective(ctx.module, x))
        clean, adv = model(torch.cat([x, x_adv])).chunk(2)
        kl = F.kl_div(F.log_softmax(adv, dim=1), F.softmax(clean, dim=1), reduction="batchmean")
        return MethodOutput(F.cross_entropy(clean, y, label_smoothing=ctx.label_smoothing) + self.beta * kl, clean)


@register_method("augmix_at")
class AugMixAT(_Attacked):
    """The project's objective min_θ Σ max_{‖δ‖≤ε} CE(h(A(x) + δ), y), A = AugMix transform.

    Algorithm per batch: (1) A₁ = AugMix(x) (fresh chains/weights per image); (2) δ₁ = PGD on the
    augmented input A₁ (L∞/L2 ball of radius ε around A₁, ∩ [0, 1], random start, eval-mode BN);
    (3) loss = CE(h(A₁ + δ₁), y). With ``jsd_weight`` w > 0 a second view A₂ + δ₂ is attacked the
    same way and loss += w·JSD(h(x), h(A₁ + δ₁), h(A₂ + δ₂)) on one forward of the three views.
    N×D inputs have no AugMix ops (A = identity, i.e. PGD-AT). Defaults: ε 0.1, 10 steps, AugMix
    severity 3, width 3, depth −1, no JSD.
    """

    def __init__(self, eps: float = 0.1, steps: int = 10, step_size: Optional[float] = None, norm: str = "Linf",
                 jsd_weight: float = 0.0, severity: float = 3, width: int = 3, depth: int = -1,
                 aug_alpha: float = 1.0) -> None:
        _check_attack_args(eps, steps, step_size, norm)
        need(is_number(jsd_weight) and jsd_weight >= 0, "jsd_weight >= 0", jsd_weight)
        check_augmix_args(severity, width, depth, aug_alpha)
        self.eps, self.steps, self.step_size, self.norm = eps, steps, step_size, norm
        self.jsd_weight = jsd_weight
        self.severity, self.width, self.depth, self.aug_alpha = severity, width, depth, aug_alpha

    def _augment(self, x, generator):
        if x.dim() != 4:
            return x
        return augmix(x, severity=self.severity, width=self.width, depth=self.depth, alpha=self.aug_alpha,
                      generator=generator)

    def loss(self, model, x, y, ctx):
        adv1 = self.attack(ctx.module, self._augment(x, ctx.generator), y, ctx)
        if self.jsd_weight == 0:
            logits = model(adv1)
            return MethodOutput(F.cross_entropy(logits, y, label_smoothing=ctx.label_smoothing), logits)
        adv2 = self.attack(ctx.module, self._augment(x, ctx.generator), y, ctx)
        clean, z1, z2 = model(torch.cat([x, adv1, adv2])).chunk(3)
        loss = F.cross_entropy(z1, y, label_smoothing=ctx.label_smoothing)
        return MethodOutput(loss + self.jsd_weight * jsd_loss(clean, z1, z2), z1)
