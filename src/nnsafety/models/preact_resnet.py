"""Pre-activation ResNet-18 for small images (CIFAR variant), split into four mixing stages."""
from __future__ import annotations

from torch import nn

from ._blocks import residual_stage
from .base import Classifier, Normalize, register_model


@register_model("preact_resnet18")
def preact_resnet18(
    normalize: Normalize,
    num_classes: int,
    in_shape: tuple,
    width: int = 64,
) -> Classifier:
    """PreAct ResNet-18 (He et al. 2016), the CIFAR variant of the NoisyMix/AugMix/Madry-AT code.

    3×3 stem conv with ``width`` channels (64 in the paper), four stages of two PreActBlocks with
    width·(1, 2, 4, 8) channels and strides 1/2/2/2, final BN-ReLU, global average pooling (adaptive,
    so 8×8, 28×28 and 32×32 inputs all work), linear head. 11,172,170 parameters at width 64,
    10 classes, 3×32×32 input (kuangliu's popular variant without the final BN has 1,024 fewer:
    11,171,146).

    Mixing stages follow the NoisyMix authors' code (``src/cifar_models/preresnet.py``):
    k = 0 mixes the normalized input, k = 1 the output of conv1+layer1, k = 2 of layer2,
    k = 3 of layer3; so ``mix_layers == 4``.

    Initialization: PyTorch's defaults (Kaiming-uniform convs/linear, BN weight 1 bias 0), as the
    reference CIFAR implementations do.
    """
    if len(in_shape) != 3:
        raise ValueError(f"expected an image in_shape (C, H, W) for preact_resnet18, got {in_shape}")
    if width < 1:
        raise ValueError(f"expected width >= 1, got {width}")
    w = [width, 2 * width, 4 * width, 8 * width]
    stages = [
        nn.Sequential(
            nn.Conv2d(in_shape[0], w[0], 3, padding=1, bias=False), residual_stage(w[0], w[0], 2, 1)
        ),
        residual_stage(w[0], w[1], 2, 2),
        residual_stage(w[1], w[2], 2, 2),
        nn.Sequential(
            residual_stage(w[2], w[3], 2, 2),
            nn.BatchNorm2d(w[3]),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        ),
    ]
    return Classifier(normalize, stages, nn.Linear(w[3], num_classes))
