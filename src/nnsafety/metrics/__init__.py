"""Safety metrics: accuracy/calibration, noise response, Hessian, loss landscape, decision
boundaries, and spectral analysis of the weights. Each takes any ``nn.Module`` and returns a
dataclass with ``to_dict()`` and, where a picture helps, ``plot(ax=None)``."""
from .accuracy import (ClassificationResult, classification_result, cross_fitted_scaled_ece, evaluate, expected_calibration_error,
                       fit_temperature, predict_logits)
from .noise_response import NOISE_FAMILIES, NoiseResponse, NoiseResponseResult, list_noise_families, noise_response
from .noise_text import random_token_probes, text_noise_response
from .hessian import (
    HessianDensityResult, HessianEigenResult, HessianOperator, HessianTraceResult, hessian_density,
    hessian_eigenvalues, hessian_trace,
)
from .landscape import LandscapeResult, SharpnessResult, loss_landscape, sharpness
from .boundary import BoundaryResult, MarginResult, decision_boundary_2d, decision_plane, margin_distribution
from .spectral import (
    FirstLayerResult, LayerSpectrum, SpectralResult, first_layer_grid, plot_first_layers, spectral_analysis,
)

__all__ = [
    "ClassificationResult", "classification_result", "cross_fitted_scaled_ece", "evaluate", "expected_calibration_error", "fit_temperature",
    "predict_logits",
    "NOISE_FAMILIES", "NoiseResponse", "NoiseResponseResult", "list_noise_families", "noise_response",
    "random_token_probes", "text_noise_response",
    "HessianDensityResult", "HessianEigenResult", "HessianOperator", "HessianTraceResult", "hessian_density",
    "hessian_eigenvalues", "hessian_trace",
    "LandscapeResult", "SharpnessResult", "loss_landscape", "sharpness",
    "BoundaryResult", "MarginResult", "decision_boundary_2d", "decision_plane", "margin_distribution",
    "FirstLayerResult", "LayerSpectrum", "SpectralResult", "first_layer_grid", "plot_first_layers",
    "spectral_analysis",
]
