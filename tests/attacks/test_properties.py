"""Property tests for every attack: ε-ball ∩ [0, 1] exactly, nothing of the model or input changes,
N = 0 and N = 1 work, output follows the input's shape/device/dtype (hypothesis over ε and shape)."""
from __future__ import annotations

import copy

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from nnsafety.attacks import apgd, cw_l2, fab, fgsm, pgd, square

from .conftest import TinyNet

CASES = {
    "fgsm": lambda m, x, y, e, n: fgsm(m, x, y, e, n),
    "pgd": lambda m, x, y, e, n: pgd(m, x, y, e, n, steps=3),
    "pgd_early_stop_margin": lambda m, x, y, e, n: pgd(m, x, y, e, n, steps=3, early_stop=True, loss="margin"),
    "pgd_restarts_targeted": lambda m, x, y, e, n: pgd(m, x, y, e, n, steps=2, restarts=2, targeted=True,
                                                      y_target=(y + 1) % 4),
    "apgd_ce": lambda m, x, y, e, n: apgd(m, x, y, e, n, steps=5),
    "apgd_t": lambda m, x, y, e, n: apgd(m, x, y, e, n, loss="dlr", targeted=True, n_target_classes=2, steps=5),
    "apgd_eot": lambda m, x, y, e, n: apgd(m, x, y, e, n, loss="dlr", steps=3, eot_iter=2, restarts=2),
    "square": lambda m, x, y, e, n: square(m, x, y, e, n, n_queries=15),
    "fab_t": lambda m, x, y, e, n: fab(m, x, y, e, n, steps=3, n_target_classes=2),
    "fab": lambda m, x, y, e, n: fab(m, x, y, e, n, targeted=False, steps=3, restarts=2),
    "cw_l2": lambda m, x, y, e, n: cw_l2(m, x, y, steps=3, binary_steps=2),
}


class Flat(nn.Module):
    """An N×D model (toy 2-D data convention)."""

    def __init__(self, d: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 4))

    def forward(self, x):
        return self.net(x)


def _snapshot(model):
    return (copy.deepcopy(model.state_dict()), [m.training for m in model.modules()],
            [p.requires_grad for p in model.parameters()],
            [None if p.grad is None else p.grad.clone() for p in model.parameters()])


@pytest.mark.parametrize("name", sorted(CASES))
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(eps=st.floats(0.0, 0.6), n=st.integers(0, 3), hw=st.integers(3, 9), channels=st.sampled_from([1, 3]),
       norm=st.sampled_from(["Linf", "L2"]), flat=st.booleans(), seed=st.integers(0, 2**16))
def test_attack_properties(name, eps, n, hw, channels, norm, flat, seed):
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    if flat:
        model, x = Flat(hw), torch.rand(n, hw, generator=g)
    else:
        model, x = TinyNet(channels, 4), torch.rand(n, channels, hw, hw, generator=g)
    x[:, ..., :1] = 0.0  # pixels on the box boundary, where clipping matters
    y = torch.randint(0, 4, (n,), generator=g)
    model.train()  # attacks must put it in eval mode and back
    model.fc.bias.requires_grad_(False) if hasattr(model, "fc") else model.net[0].bias.requires_grad_(False)
    for p in model.parameters():
        if p.requires_grad:
            p.grad = torch.randn_like(p)
    before = _snapshot(model)
    x_before = x.clone()
    xa = CASES[name](model, x, y, eps, norm)
    after = _snapshot(model)
    assert xa.shape == x.shape and xa.dtype == x.dtype and xa.device == x.device
    assert torch.equal(x, x_before), "input modified"
    for k in before[0]:
        assert torch.equal(before[0][k], after[0][k]), f"model state {k} changed"
    assert before[1:3] == after[1:3], "train/eval modes or requires_grad changed"
    for g0, g1 in zip(before[3], after[3]):
        assert (g0 is None and g1 is None) or torch.equal(g0, g1), ".grad changed"
    if n:
        assert xa.min() >= 0 and xa.max() <= 1, "left the [0, 1] box"
        if name != "cw_l2":
            d = (xa - x).flatten(1)
            dist = d.abs().max(1).values if norm == "Linf" else d.norm(dim=1)
            assert dist.max().item() <= eps + 1e-6, f"left the ε-ball: {dist.max().item()} > {eps}"


@pytest.mark.parametrize("name", sorted(CASES))
def test_batch_of_one_and_no_grad_context(name, tiny_net):
    x, y = torch.rand(1, 1, 6, 6), torch.tensor([2])
    tiny_net = TinyNet(1, 4)
    with torch.no_grad():  # evaluation loops often run under no_grad; attacks must still work
        xa = CASES[name](tiny_net, x, y, 0.2, "L2")
    assert xa.shape == x.shape and not xa.requires_grad


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", sorted(CASES))
def test_runs_on_cuda_with_cpu_generator(name):
    model = TinyNet(1, 4).cuda()
    x, y = torch.rand(3, 1, 6, 6, device="cuda"), torch.tensor([0, 1, 2], device="cuda")
    xa = CASES[name](model, x, y, 0.1, "Linf")
    assert xa.device == x.device and (xa - x).abs().max().item() <= 0.1 + 1e-6 or name == "cw_l2"
    if name.startswith("pgd") or name == "square":
        g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
        a = pgd(model, x, y, 0.1, steps=2, generator=g1)
        b = pgd(model.cpu(), x.cpu(), y.cpu(), 0.1, steps=2, generator=g2)
        torch.testing.assert_close(a.cpu(), b, atol=1e-4, rtol=0)


@pytest.mark.parametrize("name", ["pgd", "square", "apgd_ce", "fab"])
def test_same_seed_same_result(name, tiny_net):
    fns = {"pgd": pgd, "square": square, "apgd_ce": apgd, "fab": fab}
    kw = {"pgd": dict(steps=3), "square": dict(n_queries=10), "apgd_ce": dict(steps=4),
          "fab": dict(targeted=False, steps=2, restarts=2)}[name]
    x, y = torch.rand(5, 1, 6, 6), torch.randint(0, 10, (5,))
    a = fns[name](tiny_net, x, y, 0.2, generator=torch.Generator().manual_seed(3), **kw)
    b = fns[name](tiny_net, x, y, 0.2, generator=torch.Generator().manual_seed(3), **kw)
    assert torch.equal(a, b)
