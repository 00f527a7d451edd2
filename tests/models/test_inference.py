"""fast_inference: the same function (logits and input gradients), and the model restored exactly."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from nnsafety.models import list_models
from nnsafety.models.inference import fast_inference


def _trained_stats(model: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial BatchNorm statistics and affine parameters, so folding has something to fold."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.3)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.2)
    return model.eval()


def _logits_and_grad(model, x, y):
    x = x.clone().requires_grad_(True)
    z = model(x)
    (g,) = torch.autograd.grad(F.cross_entropy(z, y), x)
    return z.detach(), g


def _snapshot(model):
    return ([(m, p, p.detach().clone(), p.is_contiguous()) for m in model.modules()
             for p in m._parameters.values() if p is not None],
            {n: dict(m._modules) for n, m in model.named_modules()})


def _assert_restored(model, snap):
    params, children = snap
    now = [(m, p) for m in model.modules() for p in m._parameters.values() if p is not None]
    assert [(id(m), id(p)) for m, p in now] == [(id(m), id(p)) for m, p, _, _ in params]
    for _, p, value, contiguous in params:
        assert torch.equal(p, value) and p.is_contiguous() == contiguous
    assert {n: dict(m._modules) for n, m in model.named_modules()} == children


@pytest.mark.parametrize("name", list_models(domain="image"))
@pytest.mark.parametrize("in_shape", [(1, 8, 8), (3, 32, 32)])
def test_same_function_and_model_restored(make_model, name, in_shape):
    model = _trained_stats(make_model(name, in_shape=in_shape))
    x = torch.rand(6, *in_shape, generator=torch.Generator().manual_seed(1))
    y = torch.arange(6) % 10
    z0, g0 = _logits_and_grad(model, x, y)
    snap = _snapshot(model)
    with fast_inference(model) as net:
        z1, g1 = _logits_and_grad(net, x, y)
        if name == "cnn":  # every conv→BN pair of the cnn sits in a Sequential: all three fold
            assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    torch.testing.assert_close(z1, z0, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(g1, g0, rtol=1e-4, atol=1e-6)
    _assert_restored(model, snap)


def test_restored_after_an_exception(make_model):
    model = _trained_stats(make_model("cnn", in_shape=(1, 8, 8)))
    snap = _snapshot(model)
    with pytest.raises(RuntimeError, match="boom"):
        with fast_inference(model):
            raise RuntimeError("boom")
    _assert_restored(model, snap)


def test_training_mode_and_convless_models_pass_through(make_model):
    train = make_model("cnn", in_shape=(1, 8, 8)).train()
    with fast_inference(train) as net:
        assert net is train
    mlp = make_model("mlp", in_shape=(1, 8, 8))
    with fast_inference(mlp) as net:
        assert net is mlp


class Counter(nn.Module):
    """A wrapper keeping Python state: the calls must reach this very object."""

    def __init__(self, model):
        super().__init__()
        self.model, self.calls = model, 0

    def forward(self, x):
        self.calls += 1
        return self.model(x)


class TwoOutputs(nn.Sequential):
    """A Sequential whose forward is not the stock chain: its conv output also feeds the sum."""

    def forward(self, x):
        h = self[0](x)
        return self[1](h) + h


def test_user_state_hooks_and_custom_sequentials_are_respected(make_model):
    wrapped = Counter(_trained_stats(make_model("cnn", in_shape=(1, 8, 8))))
    with fast_inference(wrapped) as net:
        net(torch.rand(2, 1, 8, 8))
    assert wrapped.calls == 1

    seen = []
    hooked = _trained_stats(make_model("cnn", in_shape=(1, 8, 8)))
    bn = hooked.stages[0][1]
    bn.register_forward_hook(lambda m, i, o: seen.append(o.shape))
    with fast_inference(hooked) as net:
        net(torch.rand(2, 1, 8, 8))
        assert hooked.stages[0][1] is bn  # a hooked BatchNorm is never folded away
    assert seen == [torch.Size([2, 8, 8, 8])]

    custom = _trained_stats(TwoOutputs(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4)))
    x = torch.rand(3, 1, 8, 8)
    with torch.no_grad():
        ref = custom(x)
        with fast_inference(custom) as net:
            assert isinstance(custom[1], nn.BatchNorm2d)
            torch.testing.assert_close(net(x), ref)
