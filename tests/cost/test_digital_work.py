"""The cost report lists the work done off the arrays: attention's activation x activation
products and every layer left digital, with their MACs in the model's MACs and their energy in
the total."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from tinycim import cost
from tinycim.cost.events import DigitalWork

L, E, HEADS = 6, 16, 2


class _Attn(nn.Module):
    """[B, L, E] -> [B, 4]: a post-norm self-attention block, mean over tokens, Linear."""

    def __init__(self) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(E, HEADS, batch_first=True)
        self.norm = nn.LayerNorm(E)
        self.head = nn.Linear(E, 4)
        self.input_shape = (L, E)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(x + self.attn(x, x, x, need_weights=False)[0])
        return self.head(x.mean(dim=1))


class _OwnLSTM(nn.LSTM):
    """An LSTM subclass with its own forward: `decompose` leaves it as is, so it stays digital."""

    def forward(self, x, hx=None):  # type: ignore[override]
        return super().forward(x, hx)


class _Recurrent(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.rnn = _OwnLSTM(5, 8, batch_first=True)
        self.head = nn.Linear(8, 3)
        self.input_shape = (7, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.rnn(x)[0][:, -1])


def _by_kind(works: list[DigitalWork]) -> dict[tuple[str, str], DigitalWork]:
    return {(w.name, w.kind): w for w in works}


def test_attention_products_are_digital_macs_in_the_report():
    torch.manual_seed(0)
    rep = cost.estimate(_Attn().eval(), "aon-cim")
    works = _by_kind(rep.digital)
    assert works[("attn", "attention QK^T")].macs == L * L * E
    assert works[("attn", "attention x V")].macs == L * L * E
    norm = works[("norm", "layer left digital")]
    assert (norm.module, norm.macs, norm.elementwise) == ("LayerNorm", 0, L * E)
    assert {layer.name for layer in rep.layers} == {
        "attn.q_proj",
        "attn.k_proj",
        "attn.v_proj",
        "attn.out_proj",
        "head",
    }
    assert rep.digital_macs == 2 * L * L * E
    assert rep.macs == rep.analog_macs + rep.digital_macs and rep.ops == 2 * rep.macs
    assert 0 < rep.analog_mac_share < 1
    acc = cost.get_accelerator("aon-cim")
    per_op = acc.digital.multiply_energy_j + acc.digital.add_energy_j
    assert rep.digital_energy_j == pytest.approx((2 * L * L * E + L * E) * per_op)
    analog = sum(layer.total_energy_j for layer in rep.layers)
    assert rep.energy_per_inference_j == pytest.approx(analog + rep.digital_energy_j)
    assert rep.tops_per_watt == pytest.approx(rep.ops / rep.energy_per_inference_j / 1e12)
    data = rep.to_dict()
    assert data["digital_macs"] == rep.digital_macs and len(data["digital"]) == 3
    text = rep.summary()
    assert "attention QK^T" in text and "attention x V" in text and "digital, off the arrays" in text


def test_a_layer_left_digital_is_listed_with_its_macs():
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # convert warns about the digital LSTM
        rep = cost.estimate(_Recurrent().eval(), "aon-cim")
    works = _by_kind(rep.digital)
    lstm = works[("rnn", "layer left digital")]
    assert lstm.module == "_OwnLSTM"
    assert lstm.macs == 7 * (5 * 4 * 8 + 8 * 4 * 8)  # per step: input and recurrent matrices
    assert [layer.name for layer in rep.layers] == ["head"]
    assert rep.macs == lstm.macs + 8 * 3


def test_a_fully_analog_model_has_no_digital_work(cnn):
    rep = cost.estimate(cnn, "aon-cim")
    assert rep.digital == [] and rep.macs == rep.analog_macs and rep.analog_mac_share == 1.0
    assert "digital, off the arrays" not in rep.summary()
