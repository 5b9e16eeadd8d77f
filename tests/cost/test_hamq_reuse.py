"""The HamQ penalty weights each layer's ON cells by how often they are read (its output positions),
so it is proportional to the bit-line energy the cost model counts, not to the stored ON cells."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from tinycim.config import AnalogConfig
from tinycim.train import HWAConfig, prepare
from tinycim.train.hamq import _bit_layers, _codes, hamq_penalty, layer_reuse, popcount


def _net() -> nn.Module:
    torch.manual_seed(0)  # a conv read at 8 x 8 = 64 positions, a linear read once
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(256, 3)).eval()


def _prepared(lam: float) -> nn.Module:
    ideal = AnalogConfig.preset("ideal")
    cfg = dataclasses.replace(ideal, mapping=dataclasses.replace(ideal.mapping, weight_bits=6))
    return prepare(_net(), HWAConfig(hamq_lambda=lam), cfg)


def test_penalty_is_the_mean_on_cells_per_weight_read_once_layers_have_run() -> None:
    model = _prepared(0.5)
    layers = _bit_layers(model)
    ones = [float(popcount(torch.round(_codes(layer).detach()), 6).sum()) for layer in layers]
    sizes = [layer.weight.numel() for layer in layers]
    # before any forward: the plain mean per stored weight
    assert float(hamq_penalty(model).detach()) == pytest.approx(0.5 * sum(ones) / sum(sizes), rel=1e-5)
    assert layer_reuse(layers) == [1.0, 1.0]
    with torch.no_grad():
        model(torch.randn(2, 1, 8, 8, generator=torch.Generator().manual_seed(0)))
    reuse = layer_reuse(layers)
    assert reuse == [64.0, 1.0]
    expected = 0.5 * sum(r * o for r, o in zip(reuse, ones)) / sum(r * n for r, n in zip(reuse, sizes))
    assert float(hamq_penalty(model).detach()) == pytest.approx(expected, rel=1e-5)


def test_lambda_zero_stays_the_plain_computation() -> None:
    model = _prepared(0.0)
    with torch.no_grad():
        model(torch.zeros(1, 1, 8, 8))
    assert hamq_penalty(model) is None
