"""Shared fixtures for the model-registry tests: small, fast variants of every registered model."""
from __future__ import annotations

import pytest
import torch

from nnsafety.models import create_model, list_models

# Small widths keep the registry-parametrized suite fast; an entry missing here runs at its
# defaults, so a newly registered model is tested without touching this file.
FAST_KWARGS = {
    "mlp": {"width": 32},
    "cnn": {"width": 8},
    "preact_resnet18": {"width": 8},
    "wide_resnet": {"depth": 10, "widen_factor": 1},
}


@pytest.fixture
def make_model():
    """``make_model(name, in_shape=(3, 32, 32), num_classes=10, seed=0, **kw)`` -> eval-mode model."""

    def build(name, in_shape=(3, 32, 32), num_classes=10, seed=0, **kw):
        torch.manual_seed(seed)
        model = create_model(name, num_classes, in_shape, **{**FAST_KWARGS.get(name, {}), **kw})
        return model.eval()

    return build


def pytest_generate_tests(metafunc):
    """Parametrize ``mix_case`` over (name, k) for every k in range(model.mix_layers)."""
    if "mix_case" in metafunc.fixturenames:
        cases = []
        for name in list_models(domain="image"):
            model = create_model(name, 10, (3, 32, 32), **FAST_KWARGS.get(name, {}))
            cases += [(name, k) for k in range(model.mix_layers)]
        metafunc.parametrize("mix_case", cases, ids=[f"{n}-k{k}" for n, k in cases])
