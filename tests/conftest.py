import os

# Torch/OpenMP threads spin while idle by default; on a shared 2-core machine that makes every
# other process (and the subprocess tests) several times slower. Set before torch is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def cli_env():
    """Environment for subprocess runs of the CLI: same interpreter and package, passive threads."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO / "src") + os.pathsep + env.get("PYTHONPATH", "")
    env["OMP_WAIT_POLICY"] = "PASSIVE"
    return env


@pytest.fixture
def python():
    return sys.executable
