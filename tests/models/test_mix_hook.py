"""The layer-k mixing hook (manifold mixup / NFM / NoisyMix) on every registered model and every k."""
from __future__ import annotations

import pytest
import torch

from nnsafety.models import create_model, list_models

# Tests taking a ``mix_case`` argument run once per (model name, k) for every valid layer k of
# every registered model (generated in conftest.py).
IN = (3, 16, 16)  # small images keep ~100 cases fast; shapes are covered in test_model_shapes


def at_layer(k, fn):
    """A hook that applies ``fn`` at layer ``k`` only."""
    return lambda j, h: fn(h) if j == k else h


def _hidden_shapes(model, x):
    shapes = []
    model(x, mix_hook=lambda k, h: shapes.append(tuple(h.shape)) or h)
    return shapes


def test_mix_layers_match_noisymix_reference():
    """k as in the NoisyMix authors' CIFAR code: input, then after (conv1+)layer1, layer2, ..."""
    x = torch.rand(2, 3, 32, 32)
    preact = create_model("preact_resnet18", 10, (3, 32, 32), width=8)
    assert preact.mix_layers == 4  # np.random.choice(range(4)) in preresnet.py
    assert _hidden_shapes(preact, x) == [(2, 3, 32, 32), (2, 8, 32, 32), (2, 16, 16, 16), (2, 32, 8, 8)]
    wrn = create_model("wide_resnet", 10, (3, 32, 32), depth=10, widen_factor=2)
    assert wrn.mix_layers == 3  # np.random.choice(range(3)) in wide_resnet.py
    assert _hidden_shapes(wrn, x) == [(2, 3, 32, 32), (2, 32, 32, 32), (2, 64, 16, 16)]


@pytest.mark.parametrize("name", list_models(domain="image"))
def test_hook_called_once_per_k_in_order(make_model, name):
    model = make_model(name, in_shape=IN)
    calls = []

    def record(k, h):
        calls.append((k, h.shape[0]))
        return h

    model(torch.rand(3, *IN), mix_hook=record)
    assert model.mix_layers >= 1
    assert calls == [(k, 3) for k in range(model.mix_layers)]
    assert [k for k, _ in calls] == list(range(len(model.stages)))


def test_identity_hook_is_bit_identical(make_model, mix_case):
    name, k = mix_case
    model = make_model(name, in_shape=IN)
    x = torch.rand(4, *IN)
    with torch.no_grad():
        assert torch.equal(model(x, mix_hook=at_layer(k, lambda h: h)), model(x))


def test_substituting_layer_k_gives_the_other_samples_output(make_model, mix_case):
    name, k = mix_case
    """Replacing h_k(x) by h_k(x2) must give exactly model(x2): stages after k see only h."""
    model = make_model(name, in_shape=IN)
    x, x2 = torch.rand(4, *IN), torch.rand(4, *IN)
    saved = {}

    def save(h):
        saved["h"] = h.clone()
        return h

    with torch.no_grad():
        out2 = model(x2, mix_hook=at_layer(k, save))
        out = model(x)
        swapped = model(x, mix_hook=at_layer(k, lambda h: saved["h"]))
        flipped = model(x, mix_hook=at_layer(k, lambda h: h.flip(0)))
    assert torch.equal(swapped, out2)
    assert not torch.allclose(swapped, out, atol=1e-4)
    # In eval mode every sample is processed on its own, so a batch flip at k flips the logits.
    assert not torch.allclose(flipped, out, atol=1e-4)
    torch.testing.assert_close(flipped, out.flip(0), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_mixing_copies_of_the_same_state_is_a_no_op(make_model, mix_case, mode):
    name, k = mix_case
    model = make_model(name, in_shape=IN).train(mode == "train")
    x = torch.rand(4, *IN)
    lam = 0.37
    with torch.no_grad():
        ref = model(x)
        mixed = model(x, mix_hook=at_layer(k, lambda h: lam * h + (1 - lam) * h))
    torch.testing.assert_close(mixed, ref, atol=1e-5, rtol=1e-5)


def test_mixing_at_k_backpropagates_to_every_parameter(make_model, mix_case):
    name, k = mix_case
    model = make_model(name, in_shape=IN).train()
    x = torch.rand(4, *IN)
    lam = 0.7
    out = model(x, mix_hook=at_layer(k, lambda h: lam * h + (1 - lam) * h.flip(0)))
    out.logsumexp(1).sum().backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), f"{name} k={k}: {pname}"
    # The hook must not cut the graph: the first stage still learns whatever k is.
    assert any(p.grad.abs().sum() > 0 for p in model.stages[0].parameters())
