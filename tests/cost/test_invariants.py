"""Physical invariants of the event model: polarity, HamQ-like weights, bits, zero inputs, fit errors."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import tinycim as tc
import tinycim.cost as cost
from tinycim.errors import ConfigError, MappingError

from .conftest import small_cnn


def _layer(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Conv2d(32, 64, 3, padding=1)


def test_unipolar_needs_half_the_devices_and_less_periphery() -> None:
    diff = cost.estimate(_layer(), "aon-cim", input_shape=(32, 8, 8), polarity="differential")
    uni = cost.estimate(_layer(), "aon-cim", input_shape=(32, 8, 8), polarity="unipolar")
    assert uni.devices * 2 == diff.devices
    assert uni.area_breakdown_mm2["array"] == pytest.approx(diff.area_breakdown_mm2["array"] / 2)
    assert uni.area_breakdown_mm2["periphery"] < diff.area_breakdown_mm2["periphery"]
    assert uni.energy_by_component_j["adc"] < diff.energy_by_component_j["adc"]  # no subtractor
    assert uni.energy_per_inference_j < diff.energy_per_inference_j


def test_fewer_large_weights_cost_less_array_energy() -> None:
    """HamQ's effect: same layer, same max|w|, but most magnitudes pushed down -> lower conductances."""
    plain = _layer()
    sparse = _layer()
    with torch.no_grad():
        w = sparse.weight
        w.copy_(w.sign() * w.abs() ** 3 / w.abs().max() ** 2)  # keeps max|w|, shrinks the rest
    a = cost.estimate(plain, "aon-cim", input_shape=(32, 8, 8))
    b = cost.estimate(sparse, "aon-cim", input_shape=(32, 8, 8))
    assert b.energy_by_component_j["array"] < 0.6 * a.energy_by_component_j["array"]
    assert b.energy_per_inference_j < a.energy_per_inference_j


@settings(max_examples=8, deadline=None)
@given(bits=st.integers(1, 11), accelerator=st.sampled_from(["aon-cim", "hermes"]))
def test_energy_and_latency_grow_with_bits(bits: int, accelerator: str) -> None:
    net = small_cnn()
    lo = cost.estimate(net, accelerator, act_bits=bits)
    hi = cost.estimate(net, accelerator, act_bits=bits + 1)
    assert hi.energy_per_inference_j > lo.energy_per_inference_j
    assert hi.latency_s > lo.latency_s
    assert hi.tops_per_watt < lo.tops_per_watt


def test_zero_inputs_leave_only_fixed_costs(cnn) -> None:
    with torch.no_grad():  # no biases: zero inputs then stay zero through every layer
        for m in cnn.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                m.bias.zero_()
    x = torch.rand(4, 1, 12, 12, generator=torch.Generator().manual_seed(0))
    zero = cost.estimate(cnn, "aon-cim", inputs=torch.zeros_like(x))
    live = cost.estimate(cnn, "aon-cim", inputs=x)
    assert zero.activity == "measured"
    ez, el = zero.energy_by_component_j, live.energy_by_component_j
    assert ez["dac"] == 0.0 and ez["array"] == 0.0
    assert el["dac"] > 0.0 and el["array"] > 0.0
    for component in ("adc", "readout_bias", "digital", "sram", "leakage"):
        assert ez[component] == pytest.approx(el[component])


def test_measured_activity_follows_the_inputs(cnn) -> None:
    x = torch.rand(4, 1, 12, 12, generator=torch.Generator().manual_seed(0))
    half = cost.estimate(cnn, "aon-cim", inputs=x * (x > 0.5))
    full = cost.estimate(cnn, "aon-cim", inputs=x)
    assert half.layers[0].energy_j["array"] < full.layers[0].energy_j["array"]


def test_uniform_periphery_costs_less_than_per_layer(cnn) -> None:
    per_layer = cost.estimate(cnn, "hermes", periphery="per-layer")
    uniform = cost.estimate(cnn, "hermes", periphery="uniform")
    assert uniform.energy_per_inference_j < per_layer.energy_per_inference_j
    assert uniform.area_mm2 < per_layer.area_mm2


def test_converted_and_programmed_models_are_accepted(cnn) -> None:
    amodel = tc.convert(cnn, cost.analog_config_for(cost.get_accelerator("aon-cim"), 8))
    ideal = cost.estimate(amodel, "aon-cim")
    tc.program(amodel, seed=0)
    tc.drift(amodel, seconds=86400.0)
    drifted = cost.estimate(amodel, "aon-cim")
    # Drift lowers PCM conductances, so the array reads cost less a day later.
    assert drifted.energy_by_component_j["array"] < ideal.energy_by_component_j["array"]
    assert drifted.macs == ideal.macs
    with pytest.raises(ConfigError, match="polarity is set by the converted model"):
        cost.estimate(amodel, "aon-cim", polarity="unipolar")


def test_report_counts_useful_macs_and_utilisation(cnn) -> None:
    from tinycim.models import count_macs

    rep = cost.estimate(cnn, "aon-cim")
    assert rep.macs == count_macs(cnn, (1, 12, 12))
    assert rep.ops == 2 * rep.macs
    assert rep.tops_per_watt == pytest.approx(rep.ops / rep.energy_per_inference_j / 1e12)
    assert 0 < rep.utilization <= 1 and all(0 < layer.utilization <= 1 for layer in rep.layers)


def test_models_that_do_not_fit_are_named() -> None:
    big = nn.Sequential(nn.Linear(2048, 2048), nn.ReLU(), nn.Linear(2048, 10))
    with pytest.raises(MappingError, match=r"does not fit on aon-cim.*0 \(1024x512\)"):
        cost.estimate(big, "aon-cim", input_shape=(2048,))
    huge = nn.Linear(2048, 2304)  # 8 x 9 = 72 tiles of 256 x 256 > 64 cores
    with pytest.raises(MappingError, match="64 cores of 256x256"):
        cost.estimate(huge, "hermes", input_shape=(2048,))


def test_bad_arguments_give_clear_errors(cnn) -> None:
    with pytest.raises(ConfigError, match="act_bits = 0 is invalid: allowed range 1..16"):
        cost.estimate(cnn, "aon-cim", act_bits=0)
    with pytest.raises(ConfigError, match="periphery = 'both'"):
        cost.estimate(cnn, "aon-cim", periphery="both")
    with pytest.raises(ConfigError, match="mapping.polarity"):
        cost.estimate(cnn, "aon-cim", polarity="tripolar")
    with pytest.raises(ConfigError, match="input_shape is required"):
        cost.estimate(nn.Linear(4, 4), "aon-cim")


def test_plot_writes_a_png(cnn, tmp_path) -> None:
    path = cost.estimate(cnn, "aon-cim").plot(tmp_path / "energy.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_recurrent_matrices_are_costed_per_time_step():
    """An LSTM's recurrent matrix runs once per time step: 49 steps of hh plus one batched ih."""
    from tinycim.cost import estimate
    from tinycim.models import create_model

    model = create_model("lstm_kws", seed=0).eval()
    layers = {layer.name: layer for layer in estimate(model, accelerator="aon-cim", act_bits=8).layers}
    steps, features, hidden = 49, 10, 118
    assert layers["rnn.hh_l0"].macs == steps * hidden * 4 * hidden
    assert layers["rnn.ih_l0"].macs == steps * features * 4 * hidden
