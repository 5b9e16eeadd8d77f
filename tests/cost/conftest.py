"""Small models shared by the cost tests."""

from __future__ import annotations

import pytest
import torch
from torch import nn


def small_cnn(seed: int = 0) -> nn.Module:
    """A 3-conv ReLU net on 1x12x12 inputs: fits any preset, runs in milliseconds."""
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(32, 32, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(32, 4),
    )
    net.input_shape = (1, 12, 12)
    return net.eval()


@pytest.fixture
def cnn() -> nn.Module:
    return small_cnn()
