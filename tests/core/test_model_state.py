"""Every analysis gives the user's model back exactly as it came: per-submodule training flags,
requires_grad of every parameter, no .grad written, buffers (BatchNorm statistics) untouched, forward
hooks still in place. Parametrized over the registries, so a new attack or detector is covered."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from nnsafety._model import model_state
from nnsafety.attacks import get_attack, list_attacks
from nnsafety.backdoor.detectors import create_detector, list_detectors
from nnsafety.backdoor.detectors.base import DetectionContext

ATTACK_KW = {
    "pgd": dict(eps=0.1, steps=2), "fgsm": dict(eps=0.1), "apgd": dict(eps=0.1, steps=2),
    "apgd_t": dict(eps=0.1, steps=2, n_target_classes=2), "square": dict(eps=0.1, n_queries=5),
    "cw_l2": dict(steps=2, binary_steps=1), "fab": dict(eps=0.1, steps=2, n_target_classes=2),
    "autoattack": dict(eps=0.1, attacks=["apgd-ce"], checks=False, warn=False, progress=False),
}
DETECTOR_KW = {"neural_cleanse": dict(steps=3), "noise_response": dict(n_probes=20)}


class Mixed(nn.Module):
    """A small conv net in a state a user may leave it in: train mode overall, its BatchNorm
    frozen in eval, its first conv frozen, a forward hook counting calls."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.drop = nn.Dropout(0.1)
        self.fc = nn.Linear(4 * 8 * 8, 10)
        self.calls = 0
        self.fc.register_forward_hook(self._count)

    def _count(self, *_):
        self.calls += 1

    def forward(self, x):
        return self.fc(self.drop(F.relu(self.bn(self.conv(x)))).flatten(1))


def _snapshot(m):
    return ([(n, mod.training) for n, mod in m.named_modules()],
            [(n, p.requires_grad, p.grad is None, p.detach().clone()) for n, p in m.named_parameters()],
            [(n, b.clone()) for n, b in m.named_buffers()])


@pytest.fixture
def mixed():
    torch.manual_seed(0)
    m = Mixed()
    with torch.no_grad():
        m.bn.running_mean.uniform_(-0.1, 0.1)
        m.bn.running_var.uniform_(0.5, 1.5)
    m.train()
    m.bn.eval()
    m.conv.weight.requires_grad_(False)
    return m


@pytest.fixture
def data():
    g = torch.Generator().manual_seed(0)
    return torch.rand(12, 1, 8, 8, generator=g), torch.randint(0, 10, (12,), generator=g)


def _assert_same(before, m):
    after = _snapshot(m)
    assert after[0] == before[0], "training flags changed"
    for (n, rg, nog, v), (_, rg2, nog2, v2) in zip(before[1], after[1]):
        assert (rg, nog) == (rg2, nog2), f"{n}: requires_grad or .grad changed"
        assert torch.equal(v, v2), f"{n}: parameter values changed"
    for (n, b), (_, b2) in zip(before[2], after[2]):
        assert torch.equal(b, b2), f"buffer {n} changed"


def _check(m, run):
    before = _snapshot(m)
    run()
    _assert_same(before, m)
    calls = m.calls
    m(torch.rand(1, 1, 8, 8))
    assert m.calls == calls + 1, "the forward hook was removed"


def test_every_image_attack_has_settings_here():
    assert set(list_attacks(domain="image")) <= set(ATTACK_KW)


@pytest.mark.parametrize("name", sorted(ATTACK_KW))
def test_attacks_restore_the_model(mixed, data, name):
    _check(mixed, lambda: get_attack(name, **ATTACK_KW[name])(mixed, *data))


@pytest.mark.parametrize("name", list_detectors(domain="image"))
def test_detectors_restore_the_model(mixed, data, name):
    ctx = DetectionContext(in_shape=(1, 8, 8), num_classes=10, clean=data, train=data, seed=0)
    _check(mixed, lambda: create_detector(name, **DETECTOR_KW.get(name, {})).detect(mixed, ctx))


def _metric_runs():
    from nnsafety import metrics as M
    from nnsafety.corruptions import evaluate_corruptions

    loss = nn.CrossEntropyLoss()
    return {
        "evaluate": lambda m, d: M.evaluate(m, d),
        "robust_accuracy": lambda m, d: __import__("nnsafety.attacks", fromlist=["x"]).robust_accuracy(
            m, *d, "pgd", eps=0.1, steps=2, seed=0, progress=False),
        "noise_response": lambda m, d: M.noise_response(m, *d, n_probes=12, levels=[0.0, 0.5]),
        "hessian_eigenvalues": lambda m, d: M.hessian_eigenvalues(m, loss, d, k=1, max_iter=5),
        "hessian_trace": lambda m, d: M.hessian_trace(m, loss, d, n_hvp=6),
        "loss_landscape": lambda m, d: M.loss_landscape(m, loss, d, steps=3),
        "margin_distribution": lambda m, d: M.margin_distribution(m, d[0][:3], n_directions=2, coarse_steps=4),
        "spectral": lambda m, d: M.spectral_analysis(m, min_size=4),
        "corruptions": lambda m, d: evaluate_corruptions(m, d, corruptions=["gaussian_noise", "fog"], severities=[1]),
    }


@pytest.mark.parametrize("name", sorted(_metric_runs()))
def test_metrics_and_corruption_evaluation_restore_the_model(mixed, data, name):
    _check(mixed, lambda: _metric_runs()[name](mixed, data))


def test_the_audit_restores_the_model(mixed, data):
    from nnsafety import audit
    from nnsafety.report import Budget

    tiny = Budget(n_eval=12, corruptions=["fog"], severities=(1,), n_corruption=12, n_attack=6, pgd_steps=2,
                  eps_list=(0.1,), n_sanity=4, n_noise=12, noise_levels=3, n_hessian=12, lanczos_iter=4,
                  trace_hvp=4, density_runs=1, density_steps=4, landscape_steps=3, plane_resolution=5, n_margin=3,
                  margin_directions=1, detectors=("weights", "neural_cleanse"), nc_steps=2, n_clean=6)
    out = {}
    _check(mixed, lambda: out.setdefault("result", audit(mixed, data, budget=tiny, progress=False)))
    assert [(s.name, s.error) for s in out["result"].sections if s.status == "error"] == []


def test_model_state_never_touches_grad_and_restores_after_an_exception(mixed):
    mixed.fc.weight.grad = torch.ones_like(mixed.fc.weight)
    before = _snapshot(mixed)
    with pytest.raises(RuntimeError):
        with model_state(mixed, train=False, freeze=True):
            assert not mixed.training and not mixed.fc.weight.requires_grad
            raise RuntimeError("boom")
    assert _snapshot(mixed)[0] == before[0]
    assert torch.equal(mixed.fc.weight.grad, torch.ones_like(mixed.fc.weight))
    assert mixed.fc.weight.requires_grad and not mixed.conv.weight.requires_grad
