"""Attacks and the noise sweep take the input domain: with a FeatureDomain every iterate satisfies
every constraint (bounds, integer/binary kinds, immutable and add-only features), for any domain
and budget (hypothesis), and the attack still finds adversarial points."""
import pytest
import torch
from hypothesis import given, settings, strategies as st
from torch import nn

from nnsafety.attacks import apgd, fgsm, get_attack, list_attacks, pgd, robust_accuracy
from nnsafety.domains import FeatureDomain
from nnsafety.metrics import noise_response

D = 6


def _domain(kinds, mutable, direction, upper=10.0):
    return FeatureDomain([0.0] * D, [upper] * D, kinds, mutable, direction)


def _valid_x(dom, n, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, D, generator=g) * torch.tensor(dom.upper)
    disc = torch.tensor([k != "real" for k in dom.kinds])
    return torch.where(disc, x.round().clamp(max=torch.tensor(dom.upper)), x)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(D, 32), nn.ReLU(), nn.Linear(32, 3)).eval()


def test_registries_say_which_attacks_take_features():
    assert {"pgd", "fgsm", "apgd"} <= set(list_attacks(domain="feature"))
    assert "square" not in list_attacks(domain="feature")


@settings(max_examples=25, deadline=None)
@given(kinds=st.lists(st.sampled_from(["real", "integer", "binary"]), min_size=D, max_size=D),
       mutable=st.lists(st.booleans(), min_size=D, max_size=D),
       direction=st.lists(st.sampled_from([-1, 0, 1]), min_size=D, max_size=D),
       eps=st.floats(0.1, 5.0), norm=st.sampled_from(["Linf", "L2"]), seed=st.integers(0, 100))
def test_every_adversarial_vector_satisfies_every_constraint(model, kinds, mutable, direction, eps, norm, seed):
    dom = _domain(kinds, mutable, direction)
    x = _valid_x(dom, 16, seed)
    y = torch.randint(0, 3, (16,), generator=torch.Generator().manual_seed(seed))
    g = torch.Generator().manual_seed(seed)
    for xa in (pgd(model, x, y, eps, norm, steps=3, domain=dom, generator=g),
               fgsm(model, x, y, eps, norm, domain=dom),
               apgd(model, x, y, eps, norm, steps=3, domain=dom, generator=g)):
        assert dom.is_valid(xa, x).all()
        real = torch.tensor([k == "real" for k in kinds])
        d = (xa - x).abs()
        if norm == "Linf":  # discrete features move by whole levels inside the ball
            assert (d[:, real] <= eps + 1e-5).all() and (d[:, ~real] <= eps + 1e-5).all()
        else:
            assert (d.norm(dim=1) <= eps * (1 + 1e-5)).all()


def test_constrained_pgd_still_attacks_and_robust_accuracy_checks_validity(model):
    dom = _domain(["real", "real", "integer", "integer", "binary", "real"], [True] * 5 + [False], [0, 1, 0, 1, 0, 0])
    x = _valid_x(dom, 200, 1)
    y = model(x).argmax(1)  # every point clean-correct
    atk = get_attack("pgd", eps=2.0, steps=20, domain=dom)
    r = robust_accuracy(model, x, y, atk, seed=0, progress=False)
    assert r.clean_accuracy == 1.0 and r.robust_accuracy < 0.9
    assert dom.is_valid(r.x_adv, x).all() and torch.equal(r.x_adv[:, 5], x[:, 5])

    def cheat(m, xb, yb):  # leaves the bounds: must be refused, not counted
        return xb + 100.0
    cheat.params = {"domain": dom}
    with pytest.raises(ValueError, match="feature domain forbids"):
        robust_accuracy(model, x, y, cheat, progress=False)


def test_noise_response_projects_noise_onto_the_feature_domain(model):
    dom = _domain(["real", "integer", "binary", "real", "real", "real"], [True, True, True, True, True, False],
                  [0, 1, 0, 0, 0, 0])
    x = _valid_x(dom, 50, 2)
    seen = []

    class Rec(nn.Module):
        def forward(self, z):
            seen.append(z.detach().clone())
            return model(z)

    r = noise_response(Rec(), x, None, family="gaussian", levels=[0.0, 1.0, 5.0], n_probes=50, domain=dom)
    z = torch.cat(seen)
    assert (z >= 0).all() and (z <= 10).all()
    assert torch.equal(z[:, 1], z[:, 1].round()) and set(z[:, 2].tolist()) <= {0.0, 1.0}
    assert set(z[:, 5].tolist()) <= set(x[:, 5].tolist())  # the immutable feature never moves
    assert len(r.flip_rate) == 3 and r.flip_rate[0] == 0.0
    with pytest.raises(ValueError, match="noise family of the feature domain"):
        noise_response(model, x, None, family="salt_and_pepper", domain=dom)
    with pytest.raises(ValueError, match="expected inputs x for the feature domain"):
        noise_response(model, None, None, family="gaussian", domain=dom, in_shape=(D,))
