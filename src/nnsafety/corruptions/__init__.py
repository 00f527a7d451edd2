"""Common corruptions (Hendrycks & Dietterich, ICLR 2019): 19 corruptions × 5 severities, batched.

``corrupt(x, "fog", severity=3, generator=g)`` on N×C×H×W in [0, 1]; ``list_corruptions()`` gives
the 15 benchmark names then the 4 extra ones. ``export_corrupted`` writes a dataset-C folder in the
CIFAR-10-C layout, ``evaluate_corruptions`` measures corruption accuracy, CE and mCE.
"""
from .base import (
    BENCHMARK_CORRUPTIONS, CORRUPTIONS, EXTRA_CORRUPTIONS, SEVERITIES, Corruption, CorruptionSpec,
    corrupt, list_corruptions, regime_for, register_corruption, stream_seed,
)
from . import noise, blur, weather, spatter, digital, jpeg  # noqa: F401  (registers the 19)
from .evaluate import CorruptionResult, evaluate_corruptions, evaluate_corruptions_folder
from .export import export_corrupted
from ._filters import gaussian_matrix  # the SciPy-exact Gaussian operator (the blur noise family uses it)

__all__ = [
    "BENCHMARK_CORRUPTIONS", "CORRUPTIONS", "EXTRA_CORRUPTIONS", "SEVERITIES", "Corruption",
    "CorruptionSpec", "corrupt", "list_corruptions", "regime_for", "register_corruption",
    "stream_seed", "CorruptionResult", "evaluate_corruptions", "evaluate_corruptions_folder",
    "export_corrupted", "gaussian_matrix",
]
