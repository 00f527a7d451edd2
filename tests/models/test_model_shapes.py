"""Every registered model: logits shape on digits/MNIST/CIFAR inputs, finite gradients, determinism."""
from __future__ import annotations

import pytest
import torch

from nnsafety.models import Classifier, list_models

IMAGE_SHAPES = [(1, 8, 8), (1, 28, 28), (3, 32, 32)]
# Models that also take flat N×D inputs (the 2-D toy data); every other entry must refuse them.
FLAT_MODELS = {"mlp"}


def test_registry_has_the_issue_models():
    assert {"mlp", "cnn", "preact_resnet18", "wide_resnet"} <= set(list_models(domain="image"))


@pytest.mark.parametrize("name", list_models(domain="image"))
@pytest.mark.parametrize("in_shape", IMAGE_SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("batch", [1, 4])
def test_forward_shape(make_model, name, in_shape, batch):
    model = make_model(name, in_shape=in_shape, num_classes=7)
    assert isinstance(model, Classifier)
    x = torch.rand(batch, *in_shape)
    with torch.no_grad():
        logits = model(x)
        feats = model.forward_features(x)
    assert logits.shape == (batch, 7)
    assert torch.isfinite(logits).all()
    # forward_features is exactly the head's input, so detectors see the penultimate layer.
    assert feats.shape == (batch, model.head.in_features)
    assert torch.equal(model.head(feats), logits)


@pytest.mark.parametrize("name", list_models(domain="image"))
@pytest.mark.parametrize("in_shape", [(1, 8, 8), (3, 32, 32)], ids=lambda s: "x".join(map(str, s)))
def test_backward_gives_finite_grads_everywhere(make_model, name, in_shape):
    model = make_model(name, in_shape=in_shape).train()
    x = torch.rand(4, *in_shape)
    y = torch.tensor([0, 1, 2, 3])
    torch.nn.functional.cross_entropy(model(x), y).backward()
    for pname, p in model.named_parameters():
        if p.requires_grad:
            assert p.grad is not None, f"{name}: no gradient for {pname}"
            assert torch.isfinite(p.grad).all(), f"{name}: non-finite gradient for {pname}"
    # A network whose gradients are all zero would pass the checks above and still be broken.
    assert any(p.grad.abs().sum() > 0 for p in model.parameters())


@pytest.mark.parametrize("name", list_models(domain="image"))
def test_flat_inputs(make_model, name):
    if name in FLAT_MODELS:
        model = make_model(name, in_shape=(2,), num_classes=2)
        x = torch.rand(5, 2)
        logits = model(x)
        assert logits.shape == (5, 2)
        assert model.normalize.mean.shape == (1, 2)
    else:
        with pytest.raises(ValueError, match="in_shape"):
            make_model(name, in_shape=(2,), num_classes=2)


@pytest.mark.parametrize("name", list_models(domain="image"))
def test_same_seed_same_weights(make_model, name):
    a = make_model(name, seed=3).state_dict()
    b = make_model(name, seed=3).state_dict()
    c = make_model(name, seed=4).state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)
