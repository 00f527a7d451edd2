"""Every registered model: safetensors round trip (weights + normalize buffers) and the Normalize layer."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from nnsafety.models import list_models

MEAN = [0.49, 0.48, 0.45]
STD = [0.25, 0.24, 0.26]


@pytest.mark.parametrize("name", list_models(domain="image"))
def test_safetensors_round_trip_is_bit_exact(make_model, name, tmp_path):
    model = make_model(name, in_shape=(3, 16, 16), mean=MEAN, std=STD, seed=0)
    # One training-mode pass moves the BN running statistics off their defaults, so the round
    # trip covers buffers as well as parameters.
    with torch.no_grad():
        model.train()(torch.rand(8, 3, 16, 16))
    model.eval()
    sd = model.state_dict()
    assert "normalize.mean" in sd and "normalize.std" in sd
    assert sd["normalize.mean"].flatten().tolist() == pytest.approx(MEAN)
    assert sd["normalize.std"].flatten().tolist() == pytest.approx(STD)

    path = tmp_path / "model.safetensors"
    save_file(sd, str(path))
    fresh = make_model(name, in_shape=(3, 16, 16), mean=MEAN, std=STD, seed=1)
    x = torch.rand(4, 3, 16, 16)
    with torch.no_grad():
        assert not torch.allclose(fresh(x), model(x))  # otherwise the test below proves nothing
        fresh.load_state_dict(load_file(str(path)), strict=True)
        assert torch.equal(fresh(x), model(x))
    loaded = fresh.state_dict()
    assert all(torch.equal(loaded[k], sd[k]) for k in sd)


@pytest.mark.parametrize(
    "name,in_shape",
    [(name, (3, 16, 16)) for name in list_models(domain="image")] + [("mlp", (2,))],  # mlp also takes N×D
    ids=[f"{name}-image" for name in list_models(domain="image")] + ["mlp-flat"],
)
def test_normalize_layer_equals_manual_standardization(make_model, name, in_shape):
    c = in_shape[0]
    mean, std = MEAN[:c], STD[:c]
    model = make_model(name, in_shape=in_shape, mean=mean, std=std)
    plain = make_model(name, in_shape=in_shape, seed=5)
    sd = dict(model.state_dict())
    sd["normalize.mean"] = torch.zeros_like(sd["normalize.mean"])
    sd["normalize.std"] = torch.ones_like(sd["normalize.std"])
    plain.load_state_dict(sd)  # same weights, no normalization

    x = torch.rand(3, *in_shape)
    # Independent per-channel reference in NumPy.
    xn = x.numpy().copy()
    for ch in range(c):
        xn[:, ch] = (xn[:, ch] - np.float32(mean[ch])) / np.float32(std[ch])
    with torch.no_grad():
        torch.testing.assert_close(model.normalize(x), torch.from_numpy(xn), atol=1e-6, rtol=1e-6)
        torch.testing.assert_close(model(x), plain(torch.from_numpy(xn)), atol=1e-5, rtol=1e-5)
