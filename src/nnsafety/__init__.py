"""nnsafety: robust training and pre-deployment safety verification for PyTorch models."""
__version__ = "0.1.0"

from .runs import Run, load_run  # noqa: E402

__all__ = ["Run", "load_run", "__version__"]
