"""Auto-PGD (Croce & Hein, ICML 2020): APGD-CE, APGD-DLR and the targeted APGD-T."""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from ..domains import Domain
from .base import (_model_guard, bcast, check_inputs, eps_unit, flat_norm, is_success, make_loss,
                   normalize_direction, project, rand_like, register_attack_fn, top_targets)


def _grad_eot(model, xa, y, yt, loss_fn, eot_iter):
    """Loss and input gradient averaged over ``eot_iter`` forward passes (EOT for random models)."""
    g_sum, loss_sum = None, None
    for _ in range(eot_iter):
        xr = xa.detach().requires_grad_(True)
        logits = model(xr)
        loss = loss_fn(logits, y, yt)
        (g,) = torch.autograd.grad(loss.sum(), xr)
        g_sum = g if g_sum is None else g_sum + g
        loss_sum = loss.detach() if loss_sum is None else loss_sum + loss.detach()
    return logits.detach(), loss_sum / eot_iter, g_sum / eot_iter


def _apgd_run(model, x, y, yt, eps, norm, steps, loss_fn, eot_iter, rho, gen, domain):
    """One APGD run (Algorithm 1 of Croce & Hein 2020) from a random start.

    Returns (x_best_adv, x_best, fooled): per point the last adversarial iterate found, the
    highest-loss iterate, and whether any iterate was adversarial. Success is misclassification
    also for APGD-T (the target only shapes the loss), as in fra31/auto-attack.
    """
    n = x.shape[0]
    # random start on the sphere of the ball, as the reference code does
    if norm == "Linf":
        t = 2 * rand_like(x, gen) - 1
        x_cur = x + eps * t / bcast(flat_norm(t, "Linf") + 1e-12, t)
    else:
        t = rand_like(x, gen, "normal")
        x_cur = x + eps * t / bcast(flat_norm(t, "L2") + 1e-12, t)
    unit = eps_unit(domain, x)  # a FeatureDomain's ε is in units of its scale
    x_cur = project(x_cur if unit is None else x + (x_cur - x) * unit, x, eps, norm, domain)
    logits, loss, g = _grad_eot(model, x_cur, y, yt, loss_fn, eot_iter)
    fooled = is_success(logits, y, None, False)
    x_adv = torch.where(bcast(fooled, x), x_cur, x)
    x_best, g_best, loss_best = x_cur.clone(), g.clone(), loss.clone()
    step = torch.full((n,), 2.0 * eps, device=x.device, dtype=x.dtype)  # η⁽⁰⁾ = 2ε
    x_prev = x_cur
    hist = torch.empty(steps + 1, n, device=x.device, dtype=loss.dtype)
    hist[0] = loss
    # checkpoints w_j: interval 0.22·N_iter shrinking by 0.03·N_iter down to 0.06·N_iter
    k = max(int(0.22 * steps), 1)
    k_decr, k_min = max(int(0.03 * steps), 1), max(int(0.06 * steps), 1)
    since_check = 0
    reduced_last = torch.ones(n, dtype=torch.bool, device=x.device)  # as fra31: no cond. 2 at w_1
    loss_best_last = loss_best.clone()
    for i in range(steps):
        with torch.no_grad():
            a = 1.0 if i == 0 else 0.75  # momentum α = 0.75 after the first step
            z = project(x_cur + bcast(step, x) * normalize_direction(g, norm, unit), x, eps, norm, domain)
            x_new = project(x_cur + a * (z - x_cur) + (1 - a) * (x_cur - x_prev), x, eps, norm, domain)
            x_prev, x_cur = x_cur, x_new
        logits, loss, g = _grad_eot(model, x_cur, y, yt, loss_fn, eot_iter)
        with torch.no_grad():
            ok = is_success(logits, y, None, False)
            x_adv = torch.where(bcast(ok, x), x_cur, x_adv)
            fooled |= ok
            hist[i + 1] = loss
            better = loss > loss_best
            x_best = torch.where(bcast(better, x), x_cur, x_best)
            g_best = torch.where(bcast(better, x), g, g_best)
            loss_best = torch.where(better, loss, loss_best)
            since_check += 1
            if since_check == k:
                # condition 1: the loss increased in at most ρ·k of the last k steps (fra31 uses ≤)
                incr = (hist[i + 2 - k:i + 2] > hist[i + 1 - k:i + 1]).sum(0)
                cond1 = incr <= rho * k
                # condition 2: step not reduced at the last checkpoint and best loss unchanged
                cond2 = ~reduced_last & (loss_best_last >= loss_best)
                reduce = cond1 | cond2
                reduced_last, loss_best_last = reduce, loss_best.clone()
                step = torch.where(reduce, step / 2, step)
                x_cur = torch.where(bcast(reduce, x), x_best, x_cur)
                g = torch.where(bcast(reduce, x), g_best, g)
                k = max(k - k_decr, k_min)
                since_check = 0
    return x_adv, x_best, fooled


def apgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, norm: str = "Linf",
         loss: str = "ce", steps: int = 100, restarts: int = 1, targeted: bool = False,
         n_target_classes: int = 9, eot_iter: int = 1, rho: float = 0.75,
         generator: Optional[torch.Generator] = None, domain: Optional[Domain] = None) -> torch.Tensor:
    """Auto-PGD: PGD with momentum and a step size halved at adaptive checkpoints.

    Croce & Hein, "Reliable evaluation of adversarial robustness with an ensemble of diverse
    parameter-free attacks", ICML 2020, Algorithm 1: η⁽⁰⁾ = 2ε; momentum α = 0.75; checkpoints
    p₀ = 0, p₁ = 0.22, p_{j+1} = p_j + max(p_j − p_{j−1} − 0.03, 0.06) (fraction of ``steps``); at a
    checkpoint the step halves and the iterate restarts from the best point if the loss rose in
    ≤ ρ = 0.75 of the steps since the last one, or if neither the step nor the best loss changed.
    Defaults as fra31/auto-attack: 100 steps, 1 restart; ``loss`` "ce" (APGD-CE) or "dlr"
    (APGD-DLR); ``targeted=True`` is APGD-T: targeted DLR towards each of the ``n_target_classes``
    most likely wrong classes in turn (9 in AutoAttack standard), each on the points still robust.
    ``eot_iter`` > 1 averages gradients over that many passes (randomized models, AutoAttack
    ``rand``: 20). Points misclassified on clean input are returned unchanged; fooled points get
    their adversarial iterate, the others their highest-loss iterate. ``eps`` in pixel units.
    ``domain``: project every iterate onto its valid inputs too (see :func:`~nnsafety.attacks.pgd`).
    """
    check_inputs(x, y, eps, norm, domain)
    if steps < 1 or restarts < 1 or eot_iter < 1:
        raise ValueError(f"expected steps, restarts, eot_iter >= 1, got {steps}, {restarts}, {eot_iter}")
    x = x.detach()
    out = x.clone()
    if x.shape[0] == 0 or eps == 0:
        return out
    loss_fn = make_loss(loss, targeted)
    with _model_guard(model, fast=True) as model:
        with torch.no_grad():
            logits0 = model(x)
        robust = logits0.argmax(1) == y
        n_cls = logits0.shape[1]
        if targeted:
            n_t = min(int(n_target_classes), n_cls - 1)
            targets = [top_targets(logits0, y, j) for j in range(1, n_t + 1)]
        else:
            targets = [None]
        for yt_all in targets:
            for _ in range(restarts):
                idx = robust.nonzero().squeeze(1)
                if idx.numel() == 0:
                    return out
                yt = yt_all[idx] if yt_all is not None else None
                x_adv, x_best, fooled = _apgd_run(model, x[idx], y[idx], yt, eps, norm, steps,
                                                  loss_fn, eot_iter, rho, generator, domain)
                out[idx] = torch.where(bcast(fooled, x_adv), x_adv, x_best)
                robust[idx[fooled]] = False
    return out


APGD = register_attack_fn("apgd", apgd, "APGD",
                          'Class form of :func:`apgd` (``loss="ce"``: APGD-CE, ``"dlr"``: APGD-DLR).', targeted=False,
                          domains=("image", "feature"))
APGDT = register_attack_fn(
    "apgd_t", apgd, "APGDT", "Class form of targeted APGD-T (:func:`apgd` with ``targeted=True``, targeted DLR loss).",
    defaults={"loss": "dlr"}, targeted=True)
