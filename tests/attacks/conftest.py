"""Fixtures for the attack tests: a digits cnn trained in a few seconds, and tiny random models."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from nnsafety.data import load_dataset


@pytest.fixture(scope="session")
def digits_test():
    x, y = load_dataset("digits", split="test").tensors()
    return x, y


@pytest.fixture(scope="session")
def trained_cnn(fit_digits):
    """ERM cnn (width 16) on digits: 200 Adam steps, ~99 % clean test accuracy, in eval mode."""
    return fit_digits("cnn", steps=200, seed=0, width=16)


class TinyNet(nn.Module):
    """Conv + BN + dropout: modes and buffers matter, so the model-guard checks can fail."""

    def __init__(self, c: int = 1, k: int = 10) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.drop = nn.Dropout(0.2)
        self.fc = nn.Linear(4, k)

    def forward(self, x):
        h = self.drop(F.relu(self.bn(self.conv(x))))
        return self.fc(h.mean((2, 3)))


@pytest.fixture
def tiny_net():
    torch.manual_seed(1)
    return TinyNet()
