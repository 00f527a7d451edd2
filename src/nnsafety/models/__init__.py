"""Model registry: mlp, cnn, preact_resnet18, wide_resnet — all with the layer-k mixing hook."""
from .base import MODELS, Classifier, MixHook, Normalize, create_model, list_models, register_model
from . import mlp, cnn, preact_resnet, wide_resnet  # noqa: F401  (registers the models)

__all__ = [
    "MODELS", "Classifier", "MixHook", "Normalize", "create_model", "list_models", "register_model",
]
