"""The HamQ lambda ramps in with the hardware-aware noise warm-up (the layers' noise_factor)."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

import tinycim.train.hamq as hamq
from tinycim.config import AnalogConfig
from tinycim.train import HWAConfig, prepare
from tinycim.train.prepare import set_noise_factor


def _value(model: nn.Module) -> float:
    penalty = hamq.hamq_penalty(model)
    assert penalty is not None
    return float(penalty.detach())


def _prepared(lam: float) -> nn.Module:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(256, 3)).eval()
    ideal = AnalogConfig.preset("ideal")
    cfg = dataclasses.replace(ideal, mapping=dataclasses.replace(ideal.mapping, weight_bits=6))
    return prepare(net, HWAConfig(hamq_lambda=lam, noise_warmup=0.5), cfg)


def test_penalty_scales_with_the_noise_ramp() -> None:
    model = _prepared(2.0)
    full = _value(model)
    assert full > 0
    set_noise_factor(model, 1 / 3)
    assert _value(model) == pytest.approx(full / 3, rel=1e-6)
    set_noise_factor(model, 0.0)
    assert hamq.hamq_penalty(model) is None
    set_noise_factor(model, 1.0)
    assert _value(model) == pytest.approx(full, rel=1e-6)


def test_ramp_off_keeps_lambda_constant(monkeypatch: pytest.MonkeyPatch) -> None:
    model = _prepared(2.0)
    full = _value(model)
    monkeypatch.setattr(hamq, "LAMBDA_WARMUP", False)
    set_noise_factor(model, 1 / 3)
    assert _value(model) == pytest.approx(full, rel=1e-6)
    assert hamq.lambda_ramp(hamq._bit_layers(model)) == 1.0
