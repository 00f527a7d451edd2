"""Each sanity check fires on a model with its pathology, and none fires on a normal trained model."""
from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from nnsafety.attacks import SanityWarning, autoattack, sanity_checks
from nnsafety.attacks.sanity import check_eps_monotonic


class Quantize(nn.Module):
    """Input quantization to 4 levels: torch.round has zero gradient (classic gradient masking)."""

    def forward(self, x):
        return torch.round(x * 4) / 4


class Noisy(nn.Module):
    """Additive Gaussian input noise in every mode (a randomized defense)."""

    def forward(self, x):
        return (x + 0.05 * torch.randn_like(x)).clamp(0, 1)


def _verdicts(checks):
    return {c.name: c.passed for c in checks}


def test_no_warning_on_a_normal_trained_model(trained_cnn, digits_test):
    x, y = digits_test[0][:200], digits_test[1][:200]
    with warnings.catch_warnings():
        warnings.simplefilter("error", SanityWarning)
        checks = sanity_checks(trained_cnn, x, y, eps=0.1)
    assert all(c.passed for c in checks), [c for c in checks if not c.passed]
    assert len(checks) == 5


def test_softmax_output_fires(trained_cnn, digits_test):
    model = nn.Sequential(trained_cnn, nn.Softmax(dim=1))
    with pytest.warns(SanityWarning, match="probabilities"):
        checks = sanity_checks(model, *[t[:100] for t in digits_test])
    assert _verdicts(checks) == {"logits_not_probabilities": False, "gradients_nonzero_finite": True,
                                 "outputs_deterministic": True, "clean_accuracy": True}
    log_model = nn.Sequential(trained_cnn, nn.LogSoftmax(dim=1))
    with pytest.warns(SanityWarning, match="log-probabilities"):
        sanity_checks(log_model, *[t[:100] for t in digits_test])


def test_gradient_masking_fires_zero_grad_and_eps_growth(trained_cnn, digits_test):
    model = nn.Sequential(Quantize(), trained_cnn)
    x, y = digits_test[0][:100], digits_test[1][:100]
    with pytest.warns(SanityWarning):
        v = _verdicts(sanity_checks(model, x, y, eps=0.1))
    assert not v["gradients_nonzero_finite"] and not v["robust_accuracy_decreases_with_eps"]
    assert v["logits_not_probabilities"] and v["outputs_deterministic"]


def test_square_beating_white_box_fires_in_autoattack(trained_cnn, digits_test):
    model = nn.Sequential(Quantize(), trained_cnn)
    x, y = digits_test[0][:30], digits_test[1][:30]
    with pytest.warns(SanityWarning, match="Square broke"):
        res = autoattack(model, x, y, 0.2, attacks=["apgd-ce", "square"])
    v = _verdicts(res.checks)
    assert not v["black_box_not_stronger"] and not v["gradients_nonzero_finite"]
    assert res.robust_accuracy_after[1] < res.robust_accuracy_after[0] - 0.2
    assert res.first_success.count("square") > 5


def test_randomized_model_fires(trained_cnn, digits_test):
    model = nn.Sequential(Noisy(), trained_cnn)
    with pytest.warns(SanityWarning, match="randomized"):
        v = _verdicts(sanity_checks(model, *[t[:64] for t in digits_test]))
    assert not v["outputs_deterministic"]


def test_low_clean_accuracy_fires(digits_test):
    from nnsafety.models import create_model

    torch.manual_seed(0)
    untrained = create_model("cnn", 10, (1, 8, 8), width=8)
    with pytest.warns(SanityWarning, match="clean accuracy"):
        v = _verdicts(sanity_checks(untrained, *[t[:100] for t in digits_test]))
    assert not v["clean_accuracy"]


def test_eps_monotonic_verdicts():
    assert check_eps_monotonic([0.1, 0.2, 0.3], [0.5, 0.2, 0.0], n=100).passed
    assert check_eps_monotonic([0.1, 0.2], [0.0, 0.0], n=100).passed  # already zero is fine
    rises = check_eps_monotonic([0.1, 0.2, 0.3], [0.3, 0.5, 0.1], n=100)
    assert not rises.passed and "rises" in rises.message
    flat = check_eps_monotonic([0.1, 0.5], [0.6, 0.6], n=100)
    assert not flat.passed and "does not decrease" in flat.message
