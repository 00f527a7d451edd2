"""A small VGG-style CNN for 8×8 to 32×32 inputs (digits, MNIST, CIFAR)."""
from __future__ import annotations

from torch import nn

from ._blocks import activation as _activation
from .base import Classifier, Normalize, register_model


def _block(c_in: int, c_out: int, pool: bool, act: str = "relu") -> nn.Sequential:
    layers = [
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        _activation(act),
    ]
    if pool:
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


@register_model("cnn")
def cnn(
    normalize: Normalize,
    num_classes: int,
    in_shape: tuple,
    width: int = 32,
    dropout: float = 0.0,
    activation: str = "relu",
) -> Classifier:
    """Three conv-BN-ReLU stages (width, 2·width, 4·width) then global average pooling.

    ``activation``: relu (default), gelu, silu or tanh.

    The first two stages halve the resolution only when the input is larger than 8 px per side of
    what is left, so 8×8 digits keep a 4×4 map at the last stage instead of vanishing to 1×1.
    """
    if len(in_shape) != 3:
        raise ValueError(f"expected an image in_shape (C, H, W) for cnn, got {in_shape}")
    if width < 1:
        raise ValueError(f"expected width >= 1, got {width}")
    _activation(activation)
    c, h, _ = in_shape
    pool1 = h >= 16
    pool2 = (h // 2 if pool1 else h) >= 8
    head_layers = [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    if dropout > 0:
        head_layers.append(nn.Dropout(dropout))
    stages = [
        _block(c, width, pool1, activation),
        _block(width, 2 * width, pool2, activation),
        nn.Sequential(_block(2 * width, 4 * width, False, activation), *head_layers),
    ]
    return Classifier(normalize, stages, nn.Linear(4 * width, num_classes))
