"""A digits MLP run directory written by hand (plain torch loop, no trainer), shared by the CLI tests."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory, fit_digits, write_digits_run):
    model = fit_digits("mlp", steps=150, seed=0, width=32)
    return write_digits_run(tmp_path_factory.mktemp("cli") / "mlp", model)
