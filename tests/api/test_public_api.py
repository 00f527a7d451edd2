"""Issue 17 items 12-13: `nnsafety.audit` is the documented function, and every public function that
measures a model takes the same dataset forms (an ArrayDataset, an (x, y) pair, or x and y)."""
import inspect
import subprocess
import sys

import pytest
import torch
from torch import nn

import nnsafety
from nnsafety.data import ArrayDataset, as_xy


def test_import_stays_light_and_audit_is_the_real_function():
    code = ("import sys, nnsafety; assert 'nnsafety.report' not in sys.modules, 'report imported eagerly'; "
            "import nnsafety.report; m = sys.modules['nnsafety.report.audit']; "
            "assert nnsafety.audit is m.audit; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "ok", out.stderr
    from nnsafety.report.audit import audit

    assert nnsafety.audit is audit
    params = inspect.signature(nnsafety.audit).parameters
    assert list(params)[:2] == ["model", "dataset"] and {"out", "budget", "eps", "noise_meta"} <= set(params)
    assert "noise_meta" in nnsafety.audit.__doc__
    assert "audit" in dir(nnsafety)
    with pytest.raises(AttributeError):
        nnsafety.no_such_thing  # noqa: B018


def test_audit_noise_meta_argument_is_the_budgets():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    x, y = torch.rand(20, 1, 8, 8), torch.arange(20) % 10
    r = nnsafety.audit(model, (x, y), only=["accuracy"], noise_meta="digits", progress=False)
    assert r.card["audit"]["budget_settings"]["noise_meta"] == "digits"
    with pytest.raises(ValueError):
        nnsafety.audit(model, (x, y), only=["accuracy"], noise_meta="no_such_reference", progress=False)


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 10)).eval()


@pytest.mark.parametrize("form", ["tensors", "pair", "dataset"])
def test_every_measuring_function_takes_the_same_dataset_forms(form):
    from nnsafety.attacks import robust_accuracy, robust_accuracy_curve
    from nnsafety.corruptions import evaluate_corruptions
    from nnsafety.metrics import evaluate, hessian_trace, margin_distribution, noise_response

    g = torch.Generator().manual_seed(1)
    x, y = torch.rand(12, 1, 8, 8, generator=g), torch.arange(12) % 10
    ds = ArrayDataset(x, y, [str(i) for i in range(10)], "t")
    model = _model()
    data = {"pair": (x, y), "dataset": ds}.get(form)
    args = (x, y) if form == "tensors" else (data,)
    ref = {
        "evaluate": evaluate(model, (x, y)).accuracy,
        "noise": noise_response(model, x, y, levels=[0, 0.5], n_probes=12).accuracy,
        "margin": margin_distribution(model, x, y, n_directions=2).median,
        "robust": robust_accuracy(model, x, y, "fgsm", eps=0.1).robust_accuracy,
        "curve": robust_accuracy_curve(model, x, y, "fgsm", [0.05, 0.1], warn=False).robust_accuracy,
        "corr": evaluate_corruptions(model, (x, y), corruptions=["fog"], severities=[1]).mean_accuracy,
        "trace": hessian_trace(model, nn.functional.cross_entropy, (x, y), n_hvp=4, seed=0).estimate,
    }
    got = {
        "evaluate": evaluate(model, data if data is not None else (x, y)).accuracy,
        "noise": noise_response(model, *args, levels=[0, 0.5], n_probes=12).accuracy,
        "margin": margin_distribution(model, *args, n_directions=2).median,
        "robust": robust_accuracy(model, *args, "fgsm", eps=0.1).robust_accuracy if form != "tensors"
        else robust_accuracy(model, x, y, "fgsm", eps=0.1).robust_accuracy,
        "curve": robust_accuracy_curve(model, *args, "fgsm", [0.05, 0.1], warn=False).robust_accuracy
        if form != "tensors" else robust_accuracy_curve(model, x, y, "fgsm", [0.05, 0.1], warn=False).robust_accuracy,
        "corr": evaluate_corruptions(model, data if data is not None else (x, y), corruptions=["fog"],
                                     severities=[1]).mean_accuracy,
        "trace": hessian_trace(model, nn.functional.cross_entropy, data if data is not None else (x, y), n_hvp=4,
                               seed=0).estimate,
    }
    assert got == ref


def test_as_xy_refuses_labels_beside_a_dataset():
    x, y = torch.rand(3, 1, 8, 8), torch.tensor([0, 1, 2])
    assert as_xy((x, y))[0] is not None and torch.equal(as_xy((x, y))[1], y)
    with pytest.raises(ValueError, match="beside"):
        as_xy((x, y), y)
