"""Safety metrics: accuracy/calibration, noise response, Hessian, landscape, boundary, spectra."""
from .accuracy import ClassificationResult, evaluate, expected_calibration_error, predict_logits

__all__ = ["ClassificationResult", "evaluate", "expected_calibration_error", "predict_logits"]
