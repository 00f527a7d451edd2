"""A digits MLP run directory written by hand (plain torch loop, no trainer), shared by the CLI tests."""
from __future__ import annotations

import pytest

from nnsafety import runs


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory, fit_digits):
    d = tmp_path_factory.mktemp("cli") / "mlp"
    d.mkdir()
    model = fit_digits("mlp", steps=150, seed=0, width=32)
    spec = {"name": "mlp", "num_classes": 10, "in_shape": [1, 8, 8], "mean": None, "std": None,
            "kwargs": {"width": 32}}
    runs.write_json_atomic(d / runs.CONFIG, {"model": spec, "data": {"name": "digits", "num_classes": 10,
                                                                    "in_shape": [1, 8, 8]},
                                             "method": {"name": "erm"}, "train": {"epochs": 1}, "seed": 0})
    runs.save_weights(model, d / runs.WEIGHTS)
    return d
