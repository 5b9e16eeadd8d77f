"""The HamQ penalty weights each weight's ON cells by the 1 bits its row's bit-serial input carries
(`row_input_bits`, the cost model's bit_g rule), measured by the forward hook in training."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

import tinycim.train.hamq as hamq
from tinycim.config import AnalogConfig, DACConfig
from tinycim.train import HWAConfig, prepare


def _value(model: nn.Module) -> float:
    penalty = hamq.hamq_penalty(model)
    assert penalty is not None
    return float(penalty.detach())


def _cfg(bits: int = 2) -> AnalogConfig:
    ideal = AnalogConfig.preset("ideal")
    return dataclasses.replace(
        ideal, mapping=dataclasses.replace(ideal.mapping, weight_bits=6), dac=DACConfig(bits=bits, range=1.0)
    )


def test_linear_rows_count_the_input_code_bits() -> None:
    torch.manual_seed(0)
    model = prepare(nn.Sequential(nn.Linear(3, 2)), HWAConfig(hamq_lambda=1.0), _cfg())
    (layer,) = hamq._bit_layers(model)
    x = torch.tensor([[1.0, 0.0, 1 / 3], [1.0, 0.0, 0.0]])  # 2-bit codes 3, 0, 1 and 3, 0, 0
    rows = hamq.row_input_bits(layer, x)
    assert rows is not None
    assert rows.tolist() == [[2.0, 0.0, 0.5]]


def test_conv_rows_sum_the_bits_over_positions_and_padding() -> None:
    torch.manual_seed(0)
    model = prepare(nn.Sequential(nn.Conv2d(1, 2, 3, padding=1)), HWAConfig(hamq_lambda=1.0), _cfg())
    (layer,) = hamq._bit_layers(model)
    rows = hamq.row_input_bits(layer, torch.ones(1, 1, 4, 4))  # code 3: 2 bits at every pixel
    assert rows is not None and rows.shape == layer.weight.shape
    assert float(rows[0, 0, 1, 1]) == 32.0  # the centre tap reads all 16 positions
    assert float(rows[1, 0, 0, 0]) == 18.0  # a corner tap reads 9 (the rest is padding)
    assert float(rows[0, 0, 0, 1]) == 24.0


def test_penalty_is_the_mean_on_cells_per_input_bit_after_training_forwards(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(hamq, "WEIGHT_BY_INPUT_BITS", True)  # off by default (no measured gain)
    torch.manual_seed(0)
    model = prepare(nn.Sequential(nn.Linear(3, 2)), HWAConfig(hamq_lambda=1.0), _cfg())
    (layer,) = hamq._bit_layers(model)
    hamq.hamq_penalty(model)  # attaches the hook
    model.train()
    with torch.no_grad():
        model(torch.tensor([[1.0, 0.0, 1 / 3]]))  # row bits 2, 0, 1
    pops = hamq.popcount(torch.round(hamq._codes(layer).detach()), 6)
    a = torch.tensor([[2.0, 0.0, 1.0]])
    expected = float((pops * a).sum() / a.expand_as(pops).sum())
    assert _value(model) == pytest.approx(expected, rel=1e-5)


def test_eval_forwards_do_not_record_input_bits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hamq, "WEIGHT_BY_INPUT_BITS", True)
    torch.manual_seed(0)
    model = prepare(nn.Sequential(nn.Linear(3, 2)), HWAConfig(hamq_lambda=1.0), _cfg())
    hamq.hamq_penalty(model)
    model.eval()
    with torch.no_grad():
        model(torch.ones(1, 3))
    assert getattr(hamq._bit_layers(model)[0], "_hamq_rows", None) is None
