"""Tiny models and synthetic data for the training tests (never the real data in /work/shared)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tinycim.data.dataset import Dataset


class TinyNet(nn.Module):
    """Conv2d + BatchNorm + Conv2d (two row tiles at 16-row tiles) + Linear: 8x8 inputs, 3 classes."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 6, 3, padding=1)
        self.fc = nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.bn1(self.conv1(x)))
        h = torch.relu(self.conv2(h)).mean(dim=(2, 3))
        return self.fc(h)


def make_dataset(n: int = 96, seed: int = 0) -> Dataset:
    """Three classes of 8x8 images: a bright row, a bright column, or a bright diagonal, plus noise."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    x = 0.3 * torch.randn(n, 1, 8, 8, generator=g)
    pos = torch.randint(0, 8, (n,), generator=g)
    for i in range(n):
        if y[i] == 0:
            x[i, 0, pos[i], :] += 1.0
        elif y[i] == 1:
            x[i, 0, :, pos[i]] += 1.0
        else:
            x[i, 0].diagonal().add_(1.0)
    return Dataset(x, y, classes=["row", "col", "diag"], name="synthetic", split="train")


@pytest.fixture
def tiny_model() -> nn.Module:
    torch.manual_seed(0)
    model = TinyNet()
    with torch.no_grad():  # non-trivial BN statistics so folding changes something
        model.bn1.running_mean.uniform_(-0.2, 0.2)
        model.bn1.running_var.uniform_(0.5, 2.0)
    return model.eval()


@pytest.fixture
def data() -> tuple[Dataset, Dataset]:
    return make_dataset(96, 0), make_dataset(48, 1)


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Every training test runs on one intra-op thread (tests/conftest.py says why)."""
    yield
