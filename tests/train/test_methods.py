import pytest
import torch
import torch.nn.functional as F

from nnsafety.models import create_model
from nnsafety.train.methods import StepContext, create_method, list_methods


def _ctx(model, smoothing=0.0):
    return StepContext(model, torch.Generator().manual_seed(0), 10, smoothing)


def test_erm_is_cross_entropy_of_the_batch():
    model = create_model("mlp", 10, (1, 8, 8), width=16)
    x, y = torch.rand(8, 1, 8, 8), torch.arange(8) % 10
    out = create_method("erm").loss(model, x, y, _ctx(model, 0.1))
    assert torch.allclose(out.loss, F.cross_entropy(model(x), y, label_smoothing=0.1))
    assert out.logits.shape == (8, 10)


def test_unknown_method_and_hparams_are_reported():
    with pytest.raises(ValueError, match="expected one of: .*erm"):
        create_method("nope")
    with pytest.raises(ValueError, match="unknown hyper-parameter"):
        create_method("erm", alpha=1.0)


@pytest.mark.parametrize("name", list_methods(domain="image"))
def test_every_method_gives_a_finite_differentiable_loss(name):
    model = create_model("cnn", 10, (1, 8, 8), width=4)
    x, y = torch.rand(6, 1, 8, 8), torch.arange(6)
    method = create_method(name)
    method.check(model)
    out = method.loss(model, x, y, _ctx(model))
    assert out.loss.dim() == 0 and torch.isfinite(out.loss)
    out.loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
