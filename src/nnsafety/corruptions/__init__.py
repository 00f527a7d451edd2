"""Common corruptions (Hendrycks & Dietterich, ICLR 2019): 19 corruptions × 5 severities, batched.

``corrupt(x, "fog", severity=3, generator=g)`` on N×C×H×W in [0, 1]; ``list_corruptions()`` gives
the 15 benchmark names then the 4 extra ones; ``corrupt_text(texts, "keyboard_typo", 3, g)`` and
``list_corruptions(domain="token")`` are the 12 text corruptions (``text.py``). ``export_corrupted`` writes a dataset-C folder in the
CIFAR-10-C layout, ``evaluate_corruptions`` measures corruption accuracy, CE and mCE.
"""
from .base import (
    BENCHMARK_CORRUPTIONS, CORRUPTIONS, EXTRA_CORRUPTIONS, SEVERITIES, Corruption, CorruptionSpec,
    corrupt, list_corruptions, regime_for, register_corruption, stream_seed,
)
from . import noise, blur, weather, spatter, digital, jpeg  # noqa: F401  (registers the 19)
from .evaluate import CorruptionResult, evaluate_corruptions, evaluate_corruptions_folder
from .export import export_corrupted
from .text import TEXT_CORRUPTIONS, corrupt_text, list_text_corruptions
from .text_evaluate import evaluate_text_corruptions, export_text_corrupted
from ._filters import gaussian_matrix  # the SciPy-exact Gaussian operator (the blur noise family uses it)

__all__ = [
    "BENCHMARK_CORRUPTIONS", "CORRUPTIONS", "EXTRA_CORRUPTIONS", "SEVERITIES", "Corruption",
    "CorruptionSpec", "corrupt", "list_corruptions", "regime_for", "register_corruption",
    "stream_seed", "CorruptionResult", "evaluate_corruptions", "evaluate_corruptions_folder",
    "export_corrupted", "gaussian_matrix", "TEXT_CORRUPTIONS", "corrupt_text", "list_text_corruptions",
    "evaluate_text_corruptions", "export_text_corrupted",
]
