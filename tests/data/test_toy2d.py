"""toy2d: determinism, shape/range, the moon geometry through the affine map, Bayes rate, MLP accuracy."""
import math

import numpy as np
import pytest
import torch

from nnsafety.data import load_dataset
from nnsafety.models import create_model


def to_moon_units(x: torch.Tensor) -> np.ndarray:
    """Inverse of the documented map x01 = (x - (0.5, 0.25)) / 6 + 0.5."""
    return (x.double().numpy() - 0.5) * 6.0 + np.array([0.5, 0.25])


def test_shape_dtype_range_classes():
    ds = load_dataset("toy2d", split="train")
    x, y = ds.tensors()
    assert x.shape == (1000, 2) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert ds.in_shape == (2,) and ds.classes == ["0", "1"] and ds.num_classes == 2
    assert x.min() >= 0 and x.max() <= 1
    assert int((y == 0).sum()) == 500 and int((y == 1).sum()) == 500
    assert len(load_dataset("toy2d", split="test", n=37)) == 37


def test_deterministic_and_splits_differ():
    a = load_dataset("toy2d", split="train", seed=3).tensors()
    b = load_dataset("toy2d", split="train", seed=3).tensors()
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    test = load_dataset("toy2d", split="test", seed=3).tensors()
    other = load_dataset("toy2d", split="train", seed=4).tensors()
    assert not torch.allclose(a[0], test[0]) and not torch.allclose(a[0], other[0])


def test_noise_free_points_lie_on_the_two_half_circles():
    ds = load_dataset("toy2d", split="test", n=200, noise=0.0)
    x, y = ds.tensors()
    p = to_moon_units(x)
    centers = np.where(y.numpy()[:, None] == 0, [0.0, 0.0], [1.0, 0.5])
    np.testing.assert_allclose(np.linalg.norm(p - centers, axis=1), 1.0, atol=1e-5)
    upper = p[:, 1] - centers[:, 1]
    assert (upper[y.numpy() == 0] >= -1e-6).all() and (upper[y.numpy() == 1] <= 1e-6).all()


def test_class_means_match_the_moon_formula():
    # E[cos t] = 0, E[sin t] = 2/π for t ~ U(0, π); noise has mean 0
    x, y = load_dataset("toy2d", split="train", n=20000, seed=1).tensors()
    p = to_moon_units(x)
    np.testing.assert_allclose(p[y.numpy() == 0].mean(0), [0.0, 2 / math.pi], atol=0.03)
    np.testing.assert_allclose(p[y.numpy() == 1].mean(0), [1.0, 0.5 - 2 / math.pi], atol=0.03)
    noise_std = np.linalg.norm(p[y.numpy() == 0] - [0, 0], axis=1).std()
    assert 0.25 < noise_std < 0.45  # radius spread ≈ σ = 0.35


def bayes_predict(p: np.ndarray, noise: float) -> np.ndarray:
    """argmax_c of the true class density: mean over t of N(p; moon_c(t), σ²I)."""
    t = np.linspace(0.0, math.pi, 2001)
    moons = [np.stack([np.cos(t), np.sin(t)], 1), np.stack([1 - np.cos(t), 0.5 - np.sin(t)], 1)]
    lik = [np.exp(-((p[:, None] - m[None]) ** 2).sum(-1) / (2 * noise**2)).mean(1) for m in moons]
    return (lik[1] > lik[0]).astype(np.int64)


def test_default_noise_makes_the_bayes_rate_about_89_percent():
    x, y = load_dataset("toy2d", split="test", n=4000).tensors()
    acc = (bayes_predict(to_moon_units(x), 0.35) == y.numpy()).mean()
    assert 0.86 <= acc <= 0.92


@pytest.fixture
def one_thread():
    # tiny matmuls: thread hand-off costs more than the math on the shared 2-core machine
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_an_mlp_reaches_the_expected_band(one_thread):
    torch.manual_seed(0)
    x, y = load_dataset("toy2d", split="train").tensors()
    xt, yt = load_dataset("toy2d", split="test").tensors()
    model = create_model("mlp", 2, (2,), width=128, depth=3)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(600):
        idx = torch.randint(0, len(x), (128,), generator=g)
        loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        acc = (model(xt).argmax(1) == yt).float().mean().item()
    bayes = (bayes_predict(to_moon_units(xt), 0.35) == yt.numpy()).mean()
    assert 0.80 <= acc <= 0.93
    assert acc <= bayes + 0.02  # classes overlap: nothing beats the Bayes rule by much on 1000 points


@pytest.mark.parametrize("kwargs", [{"n": 0}, {"noise": -0.1}])
def test_bad_parameters(kwargs):
    with pytest.raises(ValueError):
        load_dataset("toy2d", **kwargs)
