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


def test_outlier_exposure_adds_the_uniform_cross_entropy_of_noise_inputs():
    """Hendrycks et al. 2019: CE(batch) + w · mean over outliers of −(1/K) Σ_k log softmax_k, with the
    outliers drawn from the step generator (same generator state → same noise images)."""
    from nnsafety.train.methods.outlier_exposure import noise_outliers

    model = create_model("mlp", 10, (1, 8, 8), width=16)
    x, y = torch.rand(8, 1, 8, 8), torch.arange(8) % 10
    out = create_method("outlier_exposure", weight=0.7, ratio=0.5).loss(model, x, y, _ctx(model, 0.1))
    noise = noise_outliers(4, (1, 8, 8), torch.Generator().manual_seed(0), "cpu")
    assert noise.shape == (4, 1, 8, 8) and 0 <= float(noise.min()) and float(noise.max()) <= 1
    with torch.no_grad():
        logp = model(noise).log_softmax(1)
        expect = F.cross_entropy(model(x), y, label_smoothing=0.1) + 0.7 * (-logp.mean(1).mean())
    assert torch.allclose(out.loss, expect, atol=1e-6)
    with pytest.raises(ValueError, match="expected ratio > 0"):
        create_method("outlier_exposure", ratio=0)
