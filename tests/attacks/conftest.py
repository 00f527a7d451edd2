"""Fixtures for the attack tests: a digits cnn trained in a few seconds, and tiny random models."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from nnsafety.data import load_dataset
from nnsafety.models import create_model


@pytest.fixture(scope="session")
def digits_test():
    x, y = load_dataset("digits", split="test").tensors()
    return x, y


@pytest.fixture(scope="session")
def trained_cnn():
    """ERM cnn (width 16) on digits: 200 Adam steps, ~99 % clean test accuracy, in eval mode."""
    torch.manual_seed(0)
    x, y = load_dataset("digits", split="train").tensors()
    model = create_model("cnn", 10, (1, 8, 8), width=16)
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    gen = torch.Generator().manual_seed(0)
    for _ in range(200):
        idx = torch.randint(0, len(x), (128,), generator=gen)
        loss = F.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    for p in model.parameters():
        p.grad = None
    return model


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
