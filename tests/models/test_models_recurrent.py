"""The recurrent / attention KWS models: sizes from their papers, decomposition onto Linear layers,
and an end-to-end analog conversion of the decomposed model."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import tinycim as tc
from tinycim.errors import ConfigError
from tinycim.models import count_params, create_model
from tinycim.nn.convert import analog_layers
from tinycim.nn.recurrent import decompose

pytestmark = pytest.mark.usefixtures("one_thread_module")

NAMES = ["lstm_kws", "gru_kws", "crnn_kws", "kwt_tiny"]


def _build(name: str, **kw) -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return create_model(name, **kw).eval()


def _x(batch: int = 3) -> torch.Tensor:
    return torch.randn(batch, 1, 49, 10, generator=torch.Generator().manual_seed(4))


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def test_parameter_counts_follow_the_layer_formulas():
    """The papers' layers (the digital input standardization, on by default, adds 2 x F)."""
    F, C = 10, 12  # MFCC coefficients, classes

    def lstm(i, h):
        return 4 * h * (i + h) + 8 * h

    def gru(i, h):
        return 3 * h * (i + h) + 6 * h

    assert count_params(_build("lstm_kws", input_norm=False)) == lstm(F, 118) + 118 * C + C  # Basic LSTM-S
    assert count_params(_build("gru_kws", input_norm=False)) == gru(F, 154) + 154 * C + C  # GRU-S
    # CRNN-S: conv 48x(10x4) -> 20x4, BN, GRU(192 -> 60) + GRU(60 -> 60), FC 84, FC 12
    assert count_params(_build("crnn_kws", input_norm=False)) == (
        48 * 40 + 2 * 48 + gru(48 * 4, 60) + gru(60, 60) + 60 * 84 + 84 + 84 * C + C
    )
    block = 4 * (64 * 64 + 64) + (64 * 256 + 256) + (256 * 64 + 64) + 2 * 2 * 64
    assert (
        count_params(_build("kwt_tiny", input_norm=False))
        == (10 * 64 + 64) + 64 + 50 * 64 + 2 * block + 2 * 64 + 64 * C + C
    )
    # Hello Edge LSTM-S (144 cells, projection 98) as an option: the projection adds 98 x 144
    projected = create_model("lstm_kws", hidden_size=144, proj_size=98, input_norm=False)
    assert count_params(projected) == 4 * 144 * (F + 98) + 8 * 144 + 98 * 144 + 98 * C + C


@pytest.mark.parametrize("name", NAMES)
def test_decomposed_model_is_the_same_function_on_linear_layers_that_fit_a_512_array(name):
    model = _build(name)
    dec, rows = decompose(copy.deepcopy(model))
    assert rows and all(r.replacement for r in rows)
    assert not any(isinstance(m, (nn.LSTM, nn.GRU, nn.MultiheadAttention)) for m in dec.modules())
    x = _x()
    with torch.no_grad():
        assert rel(dec(x), model(x)) < 1e-5
    for n, m in dec.named_modules():
        if isinstance(m, nn.Linear):
            assert m.in_features <= 512 and m.out_features <= 512, n
    if name == "kwt_tiny":
        assert {r.name for r in rows} == {"blocks.0.attn", "blocks.1.attn"}
        assert all("QK^T" in r.digital for r in rows)


@pytest.mark.filterwarnings("ignore:BatchNorm not folded")  # fx cannot trace the time loop
@pytest.mark.filterwarnings("ignore:weights left digital")  # kwt_tiny: class token + position embedding adds
@pytest.mark.parametrize("name", ["lstm_kws", "crnn_kws", "kwt_tiny"])
def test_decomposed_model_converts_to_analog_with_every_matrix_on_tiles(name):
    model = _build(name)
    dec, _ = decompose(copy.deepcopy(model))
    amodel = tc.convert(dec, "ideal")
    names = {n for n, _ in analog_layers(amodel)}
    linears = {n for n, m in dec.named_modules() if type(m) in (nn.Linear, nn.Conv2d)}
    assert names == linears
    if name == "lstm_kws":
        assert names == {"rnn.ih_l0", "rnn.hh_l0", "head"}
    x = _x()
    with torch.no_grad():
        assert rel(amodel(x), model(x)) < 1e-4  # ideal devices reproduce the digital model


def test_model_options_are_validated():
    with pytest.raises(ConfigError, match="cell must be"):
        create_model("lstm_kws", cell="rnn")
    with pytest.raises(ConfigError, match="proj_size is only supported"):
        create_model("gru_kws", proj_size=10)
    with pytest.raises(ConfigError, match="divisible by heads"):
        create_model("kwt_tiny", dim=30, heads=4)
    with pytest.raises(ConfigError, match="smaller than the conv kernel"):
        create_model("crnn_kws", input_shape=(1, 8, 10))


def test_input_norm_and_batch_independence():
    model = _build("gru_kws", input_norm=True)
    assert count_params(model) == count_params(_build("gru_kws", input_norm=False)) + 20
    x = _x(4)
    with torch.no_grad():  # each sample is classified on its own: no mixing across the batch
        torch.testing.assert_close(model(x)[1:2], model(x[1:2]), rtol=1e-5, atol=1e-6)
