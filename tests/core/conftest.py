"""Small models shared by the core tests."""

from __future__ import annotations

import pytest
import torch
from torch import nn


class MixedNet(nn.Module):
    """Conv1d, dense/grouped/depthwise Conv2d, BatchNorm and Linear: every mapped layer type."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1d = nn.Conv1d(3, 8, 3, padding=1)
        self.conv = nn.Conv2d(1, 16, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(16)
        self.grouped = nn.Conv2d(16, 16, 3, padding=1, groups=4)
        self.depthwise = nn.Conv2d(16, 16, 3, padding=1, groups=16)
        self.pointwise = nn.Conv2d(16, 24, 1)
        self.fc = nn.Linear(24 + 8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seq = x.flatten(2)[:, :, :30].reshape(x.shape[0], 3, 10)
        a = torch.relu(self.conv1d(seq)).mean(dim=2)
        h = torch.relu(self.bn(self.conv(x)))
        h = torch.relu(self.grouped(h))
        h = torch.relu(self.pointwise(self.depthwise(h))).mean(dim=(2, 3))
        return self.fc(torch.cat([h, a], dim=1))


@pytest.fixture
def mixed_net() -> nn.Module:
    torch.manual_seed(0)
    net = MixedNet()
    with torch.no_grad():  # non-trivial BatchNorm statistics, so folding is really tested
        net.bn.running_mean.uniform_(-0.5, 0.5)
        net.bn.running_var.uniform_(0.5, 2.0)
        net.bn.weight.uniform_(0.5, 1.5)
        net.bn.bias.uniform_(-0.2, 0.2)
    return net.eval()


@pytest.fixture
def image_batch() -> torch.Tensor:
    return torch.randn(6, 1, 8, 8, generator=torch.Generator().manual_seed(1))


def conv_stack(channels: int = 24, depth: int = 3) -> nn.Module:
    torch.manual_seed(0)
    layers: list[nn.Module] = []
    c_in = 1
    for _ in range(depth):
        layers += [nn.Conv2d(c_in, channels, 3, padding=1), nn.ReLU()]
        c_in = channels
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, 4)).eval()
