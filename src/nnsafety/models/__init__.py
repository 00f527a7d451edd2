"""Model registry: mlp, cnn, preact_resnet18, wide_resnet, text_cnn, bilstm, minilm — all with the layer-k
mixing hook (text models also with the embed / forward_embeddings seam); malconv (bytes).

``fast_inference(model)``: a ``with`` block that runs a frozen eval-mode model faster (BatchNorm
folded, channels-last on CPU) and restores it exactly; the attacks and the noise sweep use it.
"""
from .base import MODELS, Classifier, MixHook, Normalize, create_model, list_models, register_model
from . import mlp, cnn, preact_resnet, wide_resnet, malconv  # noqa: F401  (registers the models)
from . import text_cnn  # noqa: F401  (registers text_cnn and bilstm)
from . import char_gpt  # noqa: F401  (registers the token language model)
from . import minilm  # noqa: F401  (registers minilm; transformers is imported only when it is built)
from .text import TextClassifier
from .inference import fast_inference

__all__ = [
    "MODELS", "Classifier", "TextClassifier", "MixHook", "Normalize", "create_model", "fast_inference", "list_models",
    "register_model",
]
