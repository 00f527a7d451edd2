"""Wide ResNet WRN-d-k (Zagoruyko & Komodakis 2016) for small images, split into three mixing stages."""
from __future__ import annotations

from torch import nn

from ._blocks import residual_stage
from .base import Classifier, Normalize, register_model


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
            nn.Conv2d(in_shape[0], c[0], 3, padding=1, bias=False), residual_stage(c[0], c[1], n, 1, dropout)
        ),
        residual_stage(c[1], c[2], n, 2, dropout),
        nn.Sequential(
            residual_stage(c[2], c[3], n, 2, dropout),
            nn.BatchNorm2d(c[3]),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        ),
    ]
    model = Classifier(normalize, stages, nn.Linear(c[3], num_classes))
    _init_weights(model)
    return model
