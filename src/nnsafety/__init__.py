"""nnsafety: robust training and pre-deployment safety verification for PyTorch models."""
__version__ = "0.1.0"

from .runs import Run, load_run  # noqa: E402


def audit(model, dataset, **kwargs):  # lazy: `import nnsafety` stays light (see nnsafety.report.audit)
    from .report import audit as _audit

    return _audit(model, dataset, **kwargs)


__all__ = ["Run", "audit", "load_run", "__version__"]
