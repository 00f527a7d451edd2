"""nnsafety: robust training and pre-deployment safety verification for PyTorch models."""
__version__ = "0.1.0"

from .runs import Run, load_run  # noqa: E402

# `import nnsafety` stays light: the audit (and its matplotlib/report stack) is imported on first
# use of `nnsafety.audit`, and then it is the documented function itself (its signature, docstring
# and `help()`), not a wrapper.
_LAZY = {"audit": ("nnsafety.report.audit", "audit")}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'nnsafety' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


__all__ = ["Run", "audit", "load_run", "__version__"]
