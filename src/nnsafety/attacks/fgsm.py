"""Fast Gradient Sign Method (Goodfellow et al., ICLR 2015) and its L2 analogue (fast gradient)."""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from ..domains import Domain
from .base import (_model_guard, check_inputs, eps_unit, input_grad, make_loss, normalize_direction,
                   project, register_attack_fn)


def fgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, norm: str = "Linf",
         targeted: bool = False, y_target: Optional[torch.Tensor] = None,
         loss: str = "ce", domain: Optional[Domain] = None) -> torch.Tensor:
    """One step of size ε along the steepest-ascent direction of the loss.

    x_adv = clip_[0,1](x + ε·sign(∇ₓL)) for L∞ (Goodfellow et al. 2015), x + ε·∇ₓL/‖∇ₓL‖₂ for L2.
    Targeted: descend the loss of ``y_target``. ``eps`` in pixel units of [0, 1] inputs.
    ``domain``: project onto its valid inputs instead of [0, 1] (see :func:`~nnsafety.attacks.pgd`).
    """
    check_inputs(x, y, eps, norm, domain)
    if targeted and y_target is None:
        raise ValueError("expected y_target for a targeted attack, got None")
    x = x.detach()
    if x.shape[0] == 0 or eps == 0:
        return x.clone()
    loss_fn = make_loss(loss, targeted)
    with _model_guard(model):
        _, _, g = input_grad(model, x, loss_fn, y, y_target)
        with torch.no_grad():
            return project(x + eps * normalize_direction(g, norm, eps_unit(domain, x)), x, eps, norm, domain)


FGSM = register_attack_fn("fgsm", fgsm, "FGSM", "Class form of :func:`fgsm`.", domains=("image", "feature"))
