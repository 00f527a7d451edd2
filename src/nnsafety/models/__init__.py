"""Model registry: mlp, cnn, preact_resnet18, wide_resnet — all with the layer-k mixing hook.

``fast_inference(model)``: a ``with`` block that runs a frozen eval-mode model faster (BatchNorm
folded, channels-last on CPU) and restores it exactly; the attacks and the noise sweep use it.
"""
from .base import MODELS, Classifier, MixHook, Normalize, create_model, list_models, register_model
from . import mlp, cnn, preact_resnet, wide_resnet  # noqa: F401  (registers the models)
from . import char_gpt  # noqa: F401  (registers the token language model)
from .inference import fast_inference

__all__ = [
    "MODELS", "Classifier", "MixHook", "Normalize", "create_model", "fast_inference", "list_models",
    "register_model",
]
