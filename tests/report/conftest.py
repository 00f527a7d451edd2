"""A tiny digits MLP (plain torch loop, ~2 s) and one full audit of it with a tiny budget, shared."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from nnsafety.data import load_dataset
from nnsafety.models import create_model

# Every section runs, each on a handful of points: the tests check wiring and numbers, not quality.
TINY = dict(n_eval=None, corruptions=["gaussian_noise", "contrast"], severities=(1, 5), n_corruption=120,
            n_attack=60, pgd_steps=5, eps_list=(0.05, 0.2), n_sanity=32, noise_levels=5, n_noise=100,
            n_hessian=48, lanczos_iter=6, trace_hvp=3, density_steps=6, landscape_steps=3, plane_resolution=15,
            n_margin=16, margin_directions=2, nc_steps=5, n_clean=40)


def train_mlp(seed: int = 0, steps: int = 250, width: int = 32) -> torch.nn.Module:
    x, y = load_dataset("digits", split="train").tensors()
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = create_model("mlp", 10, (1, 8, 8), width=width)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(steps):
        idx = torch.randint(0, x.shape[0], (128,), generator=g)
        loss = F.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


@pytest.fixture(scope="session")
def mlp():
    return train_mlp()


@pytest.fixture(scope="session")
def test_set():
    return load_dataset("digits", split="test")


@pytest.fixture(scope="session")
def tiny_budget():
    from nnsafety.report import get_budget

    return get_budget("quick", **TINY)


@pytest.fixture(scope="session")
def full_audit(mlp, test_set, tiny_budget, tmp_path_factory):
    from nnsafety.report import audit

    out = tmp_path_factory.mktemp("audit")
    return audit(mlp, test_set, out=out, budget=tiny_budget, name="tiny-mlp", progress=False)
