import json

import pytest
import torch
import torch.nn.functional as F

from nnsafety.metrics.hessian import hessian_eigenvalues
from nnsafety.metrics.landscape import filter_normalized_direction, loss_landscape, sharpness
from ._trained import digits_data, digits_mlp


@pytest.fixture(scope="module")
def setup():
    model = digits_mlp(seed=0, width=16, depth=1, steps=500, full_batch=True)
    (x, y), _ = digits_data()
    return model, (x, y)


def test_parameters_bit_identical_even_after_an_exception(setup):
    model, data = setup
    before = [p.detach().clone() for p in model.parameters()]
    calls = {"n": 0}

    def failing(out, y):
        calls["n"] += 1
        if calls["n"] == 7:
            raise RuntimeError("boom")
        return F.cross_entropy(out, y)

    with pytest.raises(RuntimeError, match="boom"):
        loss_landscape(model, failing, data, steps=11)
    for p, b in zip(model.parameters(), before):
        assert torch.equal(p, b)
    loss_landscape(model, F.cross_entropy, data, dims=2, steps=3)
    for p, b in zip(model.parameters(), before):
        assert torch.equal(p, b)


def test_filter_normalization_and_line_values(setup):
    model, (x, y) = setup
    d = filter_normalized_direction(model, torch.Generator().manual_seed(3))
    for p, di in zip(model.parameters(), d):
        if p.dim() == 1:
            assert torch.count_nonzero(di) == 0
        else:
            assert torch.allclose(di.norm(dim=1), p.detach().norm(dim=1), rtol=1e-5)
    r = loss_landscape(model, F.cross_entropy, (x, y), span=0.5, steps=5, seed=3)
    assert r.coords == pytest.approx([-0.5, -0.25, 0.0, 0.25, 0.5])
    with torch.no_grad():
        assert r.loss[2] == pytest.approx(float(F.cross_entropy(model(x), y)), rel=1e-6)
        # the reference point θ* + 0.5·d computed by hand on a copy
        import copy

        m2 = copy.deepcopy(model)
        for p, di in zip(m2.parameters(), d):
            p.add_(0.5 * di)
        out = m2(x)
        assert r.loss[4] == pytest.approx(float(F.cross_entropy(out, y)), rel=1e-5)
        assert r.accuracy[4] == pytest.approx(float((out.argmax(1) == y).double().mean()), abs=1e-12)
    json.dumps(r.to_dict())
    assert r.plot() is not None


def test_hessian_direction_curvature_matches_lambda_max(setup):
    model, data = setup
    lam = hessian_eigenvalues(model, F.cross_entropy, data, k=1).eigenvalues[0]
    h = 0.02
    r = loss_landscape(model, F.cross_entropy, data, directions="hessian", span=h, steps=3)
    curvature = (r.loss[0] - 2 * r.loss[1] + r.loss[2]) / h ** 2
    assert curvature == pytest.approx(lam, rel=0.05)
    r2 = loss_landscape(model, F.cross_entropy, data, directions="hessian", dims=2, span=0.5, steps=5)
    assert len(r2.loss) == 5 and len(r2.loss[0]) == 5 and r2.plot() is not None


def test_sharpness(setup):
    model, data = setup
    s = sharpness(model, F.cross_entropy, data, radius=0.05, n_samples=8, hessian=True)
    assert 0 < s.mean_increase <= s.max_increase  # a minimum: every direction goes up
    s2 = sharpness(model, F.cross_entropy, data, radius=0.2, n_samples=8)
    assert s2.mean_increase > s.mean_increase  # grows with the radius (same directions, seed 0)
    assert s.lambda_max > 0 and s.trace > s.lambda_max and s.n_hvp > 0
    json.dumps(s.to_dict())


def test_filter_normalization_on_conv_kernels_matches_per_filter_norms():
    """Conv weights are 4-D: each output filter's direction has that filter's norm (Li et al. 2018)."""
    from nnsafety.metrics.landscape import filter_normalized_direction
    from nnsafety.models import create_model

    model = create_model("cnn", 10, (1, 8, 8), width=4)
    dirs = filter_normalized_direction(model, torch.Generator().manual_seed(0))
    for p, d in zip(model.parameters(), dirs):
        if p.dim() <= 1:
            assert torch.count_nonzero(d) == 0
            continue
        for i in range(p.shape[0]):
            assert torch.allclose(d[i].norm(), p[i].detach().norm(), rtol=1e-5)
