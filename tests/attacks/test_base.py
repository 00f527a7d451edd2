"""Losses, projections, the registry and the model guard against slow, obvious references."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from nnsafety.attacks import ATTACKS, get_attack, list_attacks
from nnsafety.attacks.base import (_model_guard, dlr_loss, dlr_targeted_loss, margin_loss, project)


def _ref_dlr(z, y):
    out = []
    for zi, yi in zip(z.tolist(), y.tolist()):
        s = sorted(zi)
        other = max(v for j, v in enumerate(zi) if j != yi)
        out.append(-(zi[yi] - other) / (s[-1] - s[-3] + 1e-12))
    return np.array(out)


def _ref_dlr_t(z, y, t):
    out = []
    for zi, yi, ti in zip(z.tolist(), y.tolist(), t.tolist()):
        s = sorted(zi)
        out.append(-(zi[yi] - zi[ti]) / (s[-1] - 0.5 * (s[-3] + s[-4]) + 1e-12))
    return np.array(out)


def test_losses_match_loop_reference():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(20, 7, generator=g, dtype=torch.float64)
    y = torch.randint(0, 7, (20,), generator=g)
    t = (y + 1 + torch.randint(0, 6, (20,), generator=g)) % 7
    np.testing.assert_allclose(dlr_loss(z, y).numpy(), _ref_dlr(z, y), rtol=1e-10)
    np.testing.assert_allclose(dlr_targeted_loss(z, y, t).numpy(), _ref_dlr_t(z, y, t), rtol=1e-10)
    ref_margin = [max(v for j, v in enumerate(zi) if j != yi) - zi[yi] for zi, yi in zip(z.tolist(), y.tolist())]
    np.testing.assert_allclose(margin_loss(z, y).numpy(), ref_margin, rtol=1e-12)
    with pytest.raises(ValueError, match="3 classes"):
        dlr_loss(z[:, :2], y.clamp(max=1))


def test_dlr_is_shift_and_scale_invariant():
    z = torch.randn(8, 10, dtype=torch.float64)
    y = torch.arange(8)
    torch.testing.assert_close(dlr_loss(3.0 * z + 5.0, y), dlr_loss(z, y))


@pytest.mark.parametrize("norm", ["Linf", "L2"])
def test_project_lands_in_ball_and_box(norm):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(16, 3, 5, 5, generator=g)
    xa = x + 2 * torch.randn(16, 3, 5, 5, generator=g)
    p = project(xa, x, 0.3, norm)
    d = (p - x).flatten(1)
    n = d.abs().max(1).values if norm == "Linf" else d.norm(dim=1)
    assert (n <= 0.3 + 1e-6).all() and p.min() >= 0 and p.max() <= 1
    if norm == "Linf":  # exact projection onto the box [max(x-ε,0), min(x+ε,1)]
        ref = np.clip(xa.numpy(), np.maximum(x.numpy() - 0.3, 0), np.minimum(x.numpy() + 0.3, 1))
        np.testing.assert_allclose(p.numpy(), ref, atol=1e-7)
    inside = x + 0.01 * torch.randn(16, 3, 5, 5, generator=g) / math.sqrt(75)
    inside = inside.clamp(0, 1)
    torch.testing.assert_close(project(inside, x, 0.3, norm), inside)  # points inside stay put


def test_registry_lists_every_attack_and_rejects_unknown():
    assert {"fgsm", "pgd", "apgd", "apgd_t", "square", "cw_l2", "fab"} <= set(list_attacks())
    assert len(ATTACKS) == len(list_attacks())
    pgd = get_attack("pgd", eps=0.1, steps=3)
    assert pgd.eps == 0.1 and pgd.norm == "Linf"
    with pytest.raises(ValueError, match="expected one of"):
        get_attack("pgdd", eps=0.1)
    with pytest.raises(ValueError, match="norm"):
        get_attack("pgd", eps=0.1, norm="L3")
    with pytest.raises(ValueError, match="unknown parameter.*stepz; expected some of: eps, norm, steps"):
        get_attack("pgd", eps=0.1, stepz=3)
    with pytest.raises(ValueError, match="missing a required argument: 'eps'"):
        get_attack("pgd")


def test_model_guard_restores_modes_and_flags(tiny_net):
    tiny_net.train()
    tiny_net.fc.weight.requires_grad_(False)
    with _model_guard(tiny_net):
        assert not tiny_net.training and not tiny_net.bn.training
        assert not any(p.requires_grad for p in tiny_net.parameters())
    assert tiny_net.training and tiny_net.bn.training
    assert not tiny_net.fc.weight.requires_grad and tiny_net.conv.weight.requires_grad
    with pytest.raises(RuntimeError):
        with _model_guard(tiny_net):
            raise RuntimeError("boom")
    assert tiny_net.training and tiny_net.conv.weight.requires_grad


def test_bad_inputs_raise_one_line_value_errors(tiny_net):
    from nnsafety.attacks import pgd

    x = torch.rand(2, 1, 8, 8)
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        pgd(tiny_net, x * 3, torch.tensor([0, 1]), 0.1)
    with pytest.raises(ValueError, match="int64"):
        pgd(tiny_net, x, torch.tensor([0.0, 1.0]), 0.1)
    with pytest.raises(ValueError, match="eps"):
        pgd(tiny_net, x, torch.tensor([0, 1]), -0.1)


def test_params_hold_the_values_the_attack_runs_with():
    """``params``/``eps`` include the defaults (the byte driver once read padding's default
    ``append`` as 0 when only passed values were stored); the repr shows the values passed."""
    import inspect

    atk = get_attack("kreuk", steps=3)
    default_eps = inspect.signature(ATTACKS.get("kreuk").fn).parameters["eps"].default
    assert atk.eps == default_eps == 1.0 and atk.params["steps"] == 3
    assert repr(atk) == "Kreuk(steps=3)"
    assert get_attack("padding").params["append"] == 1000
