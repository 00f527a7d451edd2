"""Constrained PGD: every adversarial vector satisfies every constraint of its FeatureDomain and the
ball (hypothesis), and on a linear model it reaches the analytic optimum of the constrained problem."""
from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from nnsafety.attacks import constrained_pgd, list_attacks
from nnsafety.domains import FeatureDomain


@st.composite
def domain_and_points(draw):
    d = draw(st.integers(1, 6))
    kinds = draw(st.lists(st.sampled_from(["real", "integer", "binary"]), min_size=d, max_size=d))
    lower = draw(st.lists(st.integers(-5, 3), min_size=d, max_size=d))
    width = draw(st.lists(st.integers(1, 6), min_size=d, max_size=d))
    mutable = draw(st.lists(st.booleans(), min_size=d, max_size=d))
    direction = draw(st.lists(st.sampled_from([-1, 0, 1]), min_size=d, max_size=d))
    domain = FeatureDomain([float(a) for a in lower], [float(a + w) for a, w in zip(lower, width)], kinds,
                           mutable=mutable, direction=direction)
    seed = draw(st.integers(0, 2 ** 16))
    gen = torch.Generator().manual_seed(seed)
    lo, hi = torch.tensor(domain.lower), torch.tensor(domain.upper)
    x = lo + (hi - lo) * torch.rand(8, d, generator=gen)
    discrete = torch.tensor([k != "real" for k in kinds])
    x = torch.where(discrete, x.round(), x)  # valid originals: in bounds, on their levels
    eps = draw(st.sampled_from([0.3, 1.0, 2.5]))
    return domain, x, seed, eps


@settings(max_examples=60, deadline=None)
@given(domain_and_points())
def test_every_adversarial_vector_satisfies_every_constraint(case):
    domain, x, seed, eps = case
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(x.shape[1], 8), nn.Tanh(), nn.Linear(8, 3))
    y = torch.randint(0, 3, (x.shape[0],))
    adv = constrained_pgd(model, x, y, domain, eps=eps, steps=5, scale=torch.ones(x.shape[1]))
    assert domain.is_valid(adv, x).all()
    assert ((adv - x).abs() <= eps + 1e-6).all()
    lo, hi = torch.tensor(domain.lower), torch.tensor(domain.upper)
    assert ((adv >= lo) & (adv <= hi)).all()
    for j, kind in enumerate(domain.kinds):  # checked directly, not through the domain
        if not domain.mutable[j]:
            assert torch.equal(adv[:, j], x[:, j])
        if domain.direction[j] > 0:
            assert (adv[:, j] >= x[:, j]).all()
        if domain.direction[j] < 0:
            assert (adv[:, j] <= x[:, j]).all()
        if kind != "real":
            assert torch.equal(adv[:, j], adv[:, j].round())


def test_reaches_the_linear_optimum():
    """Logistic model z = w·x: the worst valid change moves each mutable feature to the edge of its
    interval (ball ∩ bounds ∩ direction) against the true class; integers to the last level inside."""
    w = torch.tensor([[2.0, -1.0, 0.5, 3.0, -2.0]])
    model = nn.Linear(5, 1, bias=False)
    model.weight.data = w
    two_class = nn.Sequential(model, _Cat())
    domain = FeatureDomain([0, 0, 0, 0, 0], [10, 10, 10, 1, 10], ["real", "integer", "real", "binary", "real"],
                           mutable=[True, True, True, True, False], direction=[-1, 0, 1, 0, 0])
    x = torch.tensor([[5.0, 4.0, 9.8, 1.0, 3.0]])
    y = torch.tensor([1])  # push z down
    adv = constrained_pgd(two_class, x, y, domain, eps=1.5, steps=50, scale=torch.ones(5))
    # 5 − 1.5 (remove-only may fall); 4 + 1 (integer: the last level within 1.5); add-only and w > 0:
    # keep; binary 1 → 0 (|Δ| = 1 ≤ 1.5); immutable: keep
    expect = torch.tensor([[3.5, 5.0, 9.8, 0.0, 3.0]])
    torch.testing.assert_close(adv, expect)


class _Cat(nn.Module):
    def forward(self, z):
        return torch.cat([torch.zeros_like(z), z], dim=1)


def test_registered_for_features():
    assert "constrained_pgd" in list_attacks(domain="feature") and "constrained_pgd" not in list_attacks(domain="image")
