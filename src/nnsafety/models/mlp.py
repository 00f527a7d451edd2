"""Multi-layer perceptron for flat or image inputs."""
from __future__ import annotations

import math

from torch import nn

from ._blocks import activation as _activation
from .base import Classifier, Normalize, register_model


@register_model("mlp")
def mlp(
    normalize: Normalize,
    num_classes: int,
    in_shape: tuple,
    width: int = 256,
    depth: int = 2,
    dropout: float = 0.0,
    activation: str = "relu",
) -> Classifier:
    """``depth`` hidden Linear-ReLU layers of ``width`` units; each hidden layer is one stage.

    ``activation``: relu (default), gelu, silu or tanh.

    Stage 0 flattens the input, so mix_hook k = 0 sees the (normalized) input in its own shape and
    k >= 1 sees the hidden activations.
    """
    if width < 1 or depth < 1:
        raise ValueError(f"expected width >= 1 and depth >= 1, got width={width}, depth={depth}")
    _activation(activation)  # fails early on an unknown name, even before any layer is built
    stages = []
    fan_in = math.prod(in_shape)
    for i in range(depth):
        layers = [nn.Flatten()] if i == 0 else []
        layers += [nn.Linear(fan_in, width), _activation(activation)]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        stages.append(nn.Sequential(*layers))
        fan_in = width
    return Classifier(normalize, stages, nn.Linear(fan_in, num_classes))
