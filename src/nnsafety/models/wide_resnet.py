"""Wide ResNet WRN-d-k (Zagoruyko & Komodakis 2016) for small images, split into three mixing stages."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .base import Classifier, Normalize, register_model


class WideBasicBlock(nn.Module):
    """BN-ReLU-conv3×3-BN-ReLU-[dropout]-conv3×3 plus shortcut (the paper's B(3,3) block).

    As in the authors' code, the stride sits on the first conv and, when width or resolution
    change, the 1×1 shortcut conv reads the pre-activated input.
    """

    def __init__(self, c_in: int, c_out: int, stride: int, dropout: float) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.conv2 = nn.Conv2d(c_out, c_out, 3, stride=1, padding=1, bias=False)
        self.shortcut = None
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Not in place: x may be a tensor the mixing hook still holds (e.g. a mixup partner).
        out = F.relu(self.bn1(x))
        skip = x if self.shortcut is None else self.shortcut(out)
        out = self.conv1(out)
        out = self.conv2(self.dropout(F.relu(self.bn2(out))))
        return out + skip


def _group(c_in: int, c_out: int, blocks: int, stride: int, dropout: float) -> nn.Sequential:
    layers = [WideBasicBlock(c_in, c_out, stride, dropout)]
    layers += [WideBasicBlock(c_out, c_out, 1, dropout) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


def _init_weights(model: nn.Module) -> None:
    # The authors' and the widely used PyTorch WRN code: He-normal (fan_out) convs, BN = identity,
    # zero linear bias (the linear weight keeps PyTorch's default).
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.zeros_(m.bias)


@register_model("wide_resnet")
def wide_resnet(
    normalize: Normalize,
    num_classes: int,
    in_shape: tuple,
    depth: int = 28,
    widen_factor: int = 4,
    dropout: float = 0.0,
) -> Classifier:
    """WRN-``depth``-``widen_factor`` (Zagoruyko & Komodakis 2016), CIFAR layout.

    3×3 stem conv with 16 channels, three groups of n = (depth - 4) / 6 wide basic blocks with
    16k, 32k, 64k channels and strides 1/2/2, final BN-ReLU, global average pooling (adaptive, so
    8×8 to 32×32 inputs work), linear head. ``dropout`` is the probability between the two convs
    of each block (paper: 0.3; default 0). Default WRN-28-4 is the NoisyMix CIFAR recipe; the
    paper's flagship WRN-28-10 is ``widen_factor=10`` (36,479,194 parameters for 10 classes) and
    AugMix's WRN-40-2 is ``depth=40, widen_factor=2``.

    Mixing stages follow the NoisyMix authors' code (``src/cifar_models/wide_resnet.py``):
    k = 0 mixes the normalized input, k = 1 the output of conv1+group1, k = 2 of group2; so
    ``mix_layers == 3``.

    Initialization: Kaiming-normal (fan_out, ReLU) convs, BN weight 1 / bias 0, linear bias 0.
    """
    if len(in_shape) != 3:
        raise ValueError(f"expected an image in_shape (C, H, W) for wide_resnet, got {in_shape}")
    if depth < 10 or (depth - 4) % 6 != 0:
        raise ValueError(
            f"expected wide_resnet depth = 6n + 4 with n >= 1 (10, 16, 22, 28, 40, ...), got {depth}"
        )
    if widen_factor < 1:
        raise ValueError(f"expected widen_factor >= 1, got {widen_factor}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"expected dropout in [0, 1), got {dropout}")
    n = (depth - 4) // 6
    c = [16, 16 * widen_factor, 32 * widen_factor, 64 * widen_factor]
    stages = [
        nn.Sequential(
            nn.Conv2d(in_shape[0], c[0], 3, padding=1, bias=False), _group(c[0], c[1], n, 1, dropout)
        ),
        _group(c[1], c[2], n, 2, dropout),
        nn.Sequential(
            _group(c[2], c[3], n, 2, dropout),
            nn.BatchNorm2d(c[3]),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        ),
    ]
    model = Classifier(normalize, stages, nn.Linear(c[3], num_classes))
    _init_weights(model)
    return model
