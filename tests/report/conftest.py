"""A tiny digits MLP (plain torch loop, ~2 s) and one full audit of it with a tiny budget, shared."""
from __future__ import annotations

import pytest

from nnsafety.data import load_dataset

# Every section runs, each on a handful of points: the tests check wiring and numbers, not quality.
TINY = dict(n_eval=None, corruptions=["gaussian_noise", "contrast"], severities=(1, 5), n_corruption=120,
            n_attack=60, pgd_steps=5, eps_list=(0.05, 0.2), n_sanity=32, noise_levels=5, n_noise=100,
            n_hessian=48, lanczos_iter=6, trace_hvp=3, density_steps=6, landscape_steps=3, plane_resolution=15,
            n_margin=16, margin_directions=2, nc_steps=5, n_clean=40)


@pytest.fixture(scope="session")
def mlp(fit_digits):
    return fit_digits("mlp", steps=250, seed=0, width=32)


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
