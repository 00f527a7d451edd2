"""Pre-activation ResNet-18 for small images (CIFAR variant), split into four mixing stages."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .base import Classifier, Normalize, register_model


class PreActBlock(nn.Module):
    """BN-ReLU-conv3×3-BN-ReLU-conv3×3 plus identity (He et al. 2016, "Identity Mappings").

    When the block changes resolution or width, the shortcut is a 1×1 conv applied to the
    pre-activated input (as in the authors' and the CIFAR reference code), so the residual
    path of the whole network stays free of non-linearities.
    """

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, stride=1, padding=1, bias=False)
        self.shortcut = None
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Not in place: x may be a tensor the mixing hook still holds (e.g. a mixup partner).
        out = F.relu(self.bn1(x))
        skip = x if self.shortcut is None else self.shortcut(out)
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        return out + skip


def _layer(c_in: int, c_out: int, blocks: int, stride: int) -> nn.Sequential:
    layers = [PreActBlock(c_in, c_out, stride)]
    layers += [PreActBlock(c_out, c_out, 1) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


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
            nn.Conv2d(in_shape[0], w[0], 3, padding=1, bias=False), _layer(w[0], w[0], 2, 1)
        ),
        _layer(w[0], w[1], 2, 2),
        _layer(w[1], w[2], 2, 2),
        nn.Sequential(
            _layer(w[2], w[3], 2, 2),
            nn.BatchNorm2d(w[3]),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        ),
    ]
    return Classifier(normalize, stages, nn.Linear(w[3], num_classes))
