"""The pre-activation residual block shared by PreActResNet and Wide ResNet."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class PreActBlock(nn.Module):
    """BN-ReLU-conv3×3-BN-ReLU-[dropout]-conv3×3 plus shortcut (He et al. 2016, "Identity Mappings";
    with dropout it is the B(3,3) block of Wide ResNets, Zagoruyko & Komodakis 2016).

    The stride sits on the first conv. When the block changes resolution or width, the shortcut is
    a 1×1 conv applied to the pre-activated input (as in the authors' and the CIFAR reference
    code), so the residual path of the whole network stays free of non-linearities.
    """

    def __init__(self, c_in: int, c_out: int, stride: int = 1, dropout: float = 0.0) -> None:
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


def residual_stage(c_in: int, c_out: int, blocks: int, stride: int, dropout: float = 0.0) -> nn.Sequential:
    """``blocks`` PreActBlocks; the first one changes width/resolution."""
    layers = [PreActBlock(c_in, c_out, stride, dropout)]
    layers += [PreActBlock(c_out, c_out, 1, dropout) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU, "tanh": nn.Tanh}


def activation(name: str) -> nn.Module:
    """A fresh activation module by name (the mlp/cnn ``activation`` option)."""
    if name not in ACTIVATIONS:
        raise ValueError(f"expected activation one of {', '.join(ACTIVATIONS)}, got {name!r}")
    return ACTIVATIONS[name]()
