"""Constrained attacks (``pgd``/``fgsm`` with a FeatureDomain, and ``greedy``): every adversarial
vector satisfies every constraint of its domain and the ball in units of the domain's scale
(hypothesis), integer features move by whole levels inside the ball, on a linear model both reach
the analytic optimum of the constrained problem, and greedy's step is the exhaustive search's."""
from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from nnsafety.attacks import fgsm, greedy, list_attacks, pgd
from nnsafety.domains import FeatureDomain


@st.composite
def domain_and_points(draw):
    d = draw(st.integers(1, 6))
    kinds = draw(st.lists(st.sampled_from(["real", "integer", "binary"]), min_size=d, max_size=d))
    lower = draw(st.lists(st.integers(-5, 3), min_size=d, max_size=d))
    width = draw(st.lists(st.integers(1, 6), min_size=d, max_size=d))
    mutable = draw(st.lists(st.booleans(), min_size=d, max_size=d))
    direction = draw(st.lists(st.sampled_from([-1, 0, 1]), min_size=d, max_size=d))
    scale = draw(st.lists(st.sampled_from([0.3, 1.0, 2.0]), min_size=d, max_size=d))
    domain = FeatureDomain([float(a) for a in lower], [float(a + w) for a, w in zip(lower, width)], kinds,
                           mutable=mutable, direction=direction, scale=scale)
    seed = draw(st.integers(0, 2 ** 16))
    gen = torch.Generator().manual_seed(seed)
    lo, hi = torch.tensor(domain.lower), torch.tensor(domain.upper)
    x = lo + (hi - lo) * torch.rand(8, d, generator=gen)
    discrete = torch.tensor([k != "real" for k in kinds])
    x = torch.where(discrete, x.round(), x)  # valid originals: in bounds, on their levels
    eps = draw(st.sampled_from([0.3, 1.0, 2.5]))
    return domain, x, seed, eps


@settings(max_examples=60, deadline=None)
@given(domain_and_points(), st.sampled_from(["Linf", "L2"]), st.booleans())
def test_every_adversarial_vector_satisfies_every_constraint(check_feature_constraints, case, norm, early_stop):
    domain, x, seed, eps = case
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(x.shape[1], 8), nn.Tanh(), nn.Linear(8, 3))
    y = torch.randint(0, 3, (x.shape[0],))
    gen = torch.Generator().manual_seed(seed)
    s = torch.tensor(domain.scale)
    advs = [pgd(model, x, y, eps, norm, steps=5, domain=domain, early_stop=early_stop, generator=gen),
            pgd(model, x, y, eps, norm, steps=3, restarts=2, domain=domain, generator=gen),
            fgsm(model, x, y, eps, norm, domain=domain)]
    if norm == "Linf":  # greedy is an L∞ (+ L0) attack
        advs.append(greedy(model, x, y, eps, domain=domain, max_changes=2 if early_stop else None))
        assert ((advs[-1] != x).sum(1) <= (2 if early_stop else x.shape[1])).all()
    for adv in advs:
        assert domain.is_valid(adv, x).all()
        d = (adv - x) / s  # the ball in units of the scale, discrete features included
        if norm == "Linf":
            assert (d.abs() <= eps + 1e-5).all()
        else:
            assert (d.norm(dim=1) <= eps * (1 + 1e-5)).all()
        check_feature_constraints(domain, x, adv)  # checked directly, not through the domain


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
    adv = pgd(two_class, x, y, 1.5, steps=50, domain=domain, generator=torch.Generator().manual_seed(0))
    # 5 − 1.5 (remove-only may fall); 4 + 1 (integer: the last level within 1.5); add-only and w > 0:
    # keep; binary 1 → 0 (|Δ| = 1 ≤ 1.5); immutable: keep
    expect = torch.tensor([[3.5, 5.0, 9.8, 0.0, 3.0]])
    torch.testing.assert_close(adv, expect)
    # w·x = 7.9 and the constrained optimum lowers it by 7: never fooled, greedy moves every helpful feature
    torch.testing.assert_close(greedy(two_class, x, y, 1.5, domain=domain), expect)


class _Cat(nn.Module):
    def forward(self, z):
        return torch.cat([torch.zeros_like(z), z], dim=1)


def test_small_steps_move_integer_features_and_eps_is_in_units_of_the_scale():
    """Steps of 0.15 levels accumulate (the iterate is continuous, the model sees its rounding), and
    the same ε allows twice the change on a feature of twice the scale."""
    model = nn.Sequential(nn.Linear(2, 1, bias=False), _Cat())
    model[0].weight.data = torch.tensor([[0.1, 0.1]])  # z = 2: the loss gradient does not underflow
    domain = FeatureDomain([0, 0], [20, 20], ["integer", "real"], scale=[2.0, 1.0])
    x, y = torch.tensor([[10.0, 10.0]]), torch.tensor([1])
    adv = pgd(model, x, y, 1.5, steps=50, step_size=0.15, random_start=False, domain=domain)
    torch.testing.assert_close(adv, torch.tensor([[7.0, 8.5]]))  # 10 − ⌊1.5·2⌋ and 10 − 1.5·1
    unscaled = pgd(model, x, y, 1.5, steps=50, step_size=0.15, random_start=False,
                   domain=FeatureDomain([0, 0], [20, 20], ["integer", "real"]))
    torch.testing.assert_close(unscaled, torch.tensor([[9.0, 8.5]]))


def test_registered_for_features():
    assert "pgd" in list_attacks(domain="feature") and "constrained_pgd" not in list_attacks()
    assert "greedy" in list_attacks(domain="feature") and "greedy" not in list_attacks(domain="image")


def _margins(model, x, y):
    z = model(x)
    return z.gather(1, y[:, None]).squeeze(1) - z.scatter(1, y[:, None], float("-inf")).amax(1)


def test_greedy_step_is_the_exhaustive_single_feature_search():
    """With every move evaluated exactly (candidates = 2·D) and one change allowed, greedy's result
    has the lowest margin of all single-feature moves to the edge of their allowed range (brute
    force, written out per feature and direction), or is x itself when no move lowers it."""
    torch.manual_seed(0)
    d = 6
    domain = FeatureDomain([0.0] * d, [10.0] * d, ["real", "integer", "binary", "real", "integer", "real"],
                           mutable=[True, True, True, True, True, False], direction=[0, 1, 0, -1, 0, 0],
                           scale=[1.0, 2.0, 1.0, 0.5, 1.0, 1.0])
    x = torch.rand(64, d) * 10
    x[:, [1, 4]] = x[:, [1, 4]].round()
    x[:, 2] = x[:, 2].round().clamp(0, 1)
    model = nn.Sequential(nn.Linear(d, 16), nn.Tanh(), nn.Linear(16, 3))
    with torch.no_grad():
        y = model(x).argmax(1)  # every point starts correctly classified
        adv = greedy(model, x, y, 1.5, domain=domain, max_changes=1, candidates=2 * d)
        best = _margins(model, x, y)
        for j in range(d):
            for sign in (1.0, -1.0):
                moved = x.clone()
                moved[:, j] += sign * 1.5 * domain.scale[j]
                moved = domain.project_ball(moved, x, 1.5, "Linf")
                moved = torch.where(torch.arange(d) == j, moved, x)  # that one feature only
                best = torch.minimum(best, _margins(model, moved, y))
        torch.testing.assert_close(_margins(model, adv, y), best)
    assert ((adv != x).sum(1) <= 1).all()


def test_greedy_refuses_a_non_feature_domain():
    import pytest

    with pytest.raises(ValueError, match="expected domain a FeatureDomain"):
        greedy(nn.Linear(2, 2), torch.zeros(1, 2), torch.zeros(1, dtype=torch.long), 0.1)
