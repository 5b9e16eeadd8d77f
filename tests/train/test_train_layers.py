"""HWA layers: each piece changes what it should and nothing else; agreement with the analog model."""
from __future__ import annotations


import pytest
import torch

import tinycim as tc
from tinycim.train import HWAConfig, constrain_, hwa_layers, init_ranges, prepare, to_analog, to_digital
from tinycim.train.noise import device_noise, gaussian_noise

def _x(n: int = 16) -> torch.Tensor:
    return torch.randn(n, 1, 8, 8, generator=torch.Generator().manual_seed(n))


def test_all_off_is_the_plain_layer_bit_for_bit(tiny_model):
    prepared = prepare(tiny_model, HWAConfig())
    assert all(p.requires_grad for p in prepared.parameters() if p.dim() > 1)
    prepared.train()
    tiny_model.train()
    x = _x()
    assert torch.equal(prepared(x), tiny_model(x))
    assert not isinstance(tiny_model.conv1, tc.nn.AnalogLayerMixin)  # original untouched


def test_prepare_folds_bn_and_keeps_weight_parameters(tiny_model):
    prepared = prepare(tiny_model, HWAConfig(fold_bn=True))
    assert isinstance(prepared.bn1, torch.nn.Identity)
    names = [n for n, _ in hwa_layers(prepared)]
    assert names == ["conv1", "conv2", "fc"]
    assert isinstance(prepared.conv1.weight, torch.nn.Parameter)
    torch.testing.assert_close(prepared.eval()(_x()), tiny_model(_x()), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("bits", [8, 6, 4])
@pytest.mark.parametrize("uniform", [False, True])
def test_noise_off_matches_converted_ideal_model(tiny_model, bits, uniform):
    hwa = HWAConfig(dac_bits=bits, adc_bits=bits, tile_rows=16, fold_bn=True, uniform=uniform)
    prepared = prepare(tiny_model, hwa)
    assert len(prepared.conv2.geometry.row_chunks) == 4  # 4 channels x 9 rows on 16-row tiles
    init_ranges(prepared, _x(64))
    amodel = to_analog(prepared, hwa.analog_config(tc.AnalogConfig.preset("ideal")))
    with torch.no_grad():
        y_hwa, y_analog = prepared.eval()(_x()), amodel(_x())
    torch.testing.assert_close(y_hwa, y_analog, rtol=1e-4, atol=1e-5)


def test_learned_ranges_receive_gradients_and_are_frozen_at_convert(tiny_model):
    prepared = prepare(tiny_model, HWAConfig(dac_bits=4, adc_bits=4, fold_bn=True))
    init_ranges(prepared, _x(64))
    prepared.train()
    prepared(_x()).square().sum().backward()
    for _, layer in hwa_layers(prepared):
        assert layer.log_input_range.grad is not None and layer.log_output_range.grad is not None
    amodel = to_analog(prepared, "pcm")
    conv2 = dict(tc.analog_layers(amodel))["conv2"]
    assert float(conv2.output_range) == pytest.approx(float(prepared.conv2.output_range.detach()))
    assert float(conv2.input_range) == pytest.approx(float(prepared.conv2.input_range.detach()))


def test_gaussian_noise_trains_only_and_has_the_requested_scale(tiny_model):
    prepared = prepare(tiny_model, HWAConfig(noise="gaussian", noise_eta=0.05))
    x = _x()
    prepared.eval()
    assert torch.equal(prepared(x), prepared(x))  # no noise at evaluation
    prepared.train()
    assert not torch.equal(prepared(x), prepared(x))  # redrawn every batch
    w = torch.randn(64, 32)
    noise = gaussian_noise(w, 0.05, "layer", torch.Generator().manual_seed(0))
    assert float(noise.std()) == pytest.approx(0.05 * float(w.abs().max()), rel=0.05)
    per_col = gaussian_noise(w, 0.05, "column", torch.Generator().manual_seed(0))
    assert per_col.shape == w.shape and not torch.equal(per_col, noise)


def test_device_noise_is_physical(tiny_model):
    w = torch.rand(32, 32) * 2 - 1
    device = tc.AnalogConfig.preset("pcm").device
    noise = device_noise(w, device, 1.0, 2.592e6, torch.Generator().manual_seed(0))
    assert 0.005 < float(noise.std()) < 0.2  # a few % of full scale, as PCM programming noise
    ideal = tc.AnalogConfig.preset("ideal").device
    assert float(device_noise(w, ideal, 1.0, 10.0, torch.Generator()).abs().max()) < 1e-6
    prepared = prepare(tiny_model, HWAConfig(noise="device"))
    prepared.train()
    assert not torch.equal(prepared(_x()), prepared(_x()))


def test_clipping_and_fixed_clipping(tiny_model):
    prepared = prepare(tiny_model, HWAConfig(clip="std", clip_value=1.0))
    w, before = prepared.conv2.weight.detach(), tiny_model.conv2.weight.detach()
    assert float(w.abs().max()) <= float(before.std()) + 1e-6 < float(before.abs().max())
    fixed = prepare(tiny_model, HWAConfig(clip="fixed", clip_value=0.05))
    assert all(float(layer.weight.detach().abs().max()) <= 0.05 + 1e-7 for _, layer in hwa_layers(fixed))


def test_remap_every_keeps_the_range_between_remaps(tiny_model):
    prepared = prepare(tiny_model, HWAConfig(remap_every=3, dac_bits=8))
    scale = prepared.fc.w_scale.clone()
    with torch.no_grad():
        prepared.fc.weight.mul_(2.0)
    constrain_(prepared)
    constrain_(prepared)
    assert torch.equal(prepared.fc.w_scale, scale)
    constrain_(prepared)  # third step: remap
    torch.testing.assert_close(prepared.fc.w_scale, scale * 2)


@pytest.mark.parametrize("mode", ["positive", "negative", "auto"])
def test_unipolar_signs_are_enforced(tiny_model, mode):
    hwa = HWAConfig(unipolar=mode, unipolar_granularity="tile", tile_rows=16, tile_cols=4, weight_bits=2,
                    dac_bits=8, adc_bits=8, fold_bn=True)
    prepared = prepare(tiny_model, hwa)
    for _, layer in hwa_layers(prepared):
        w, sign = layer.weight.detach(), layer.unipolar_sign
        assert bool(((w * sign) >= 0).all())
        if mode == "positive":
            assert bool((sign > 0).all())
    init_ranges(prepared, _x(64))
    amodel = to_analog(prepared, hwa.analog_config(tc.AnalogConfig.preset("ideal")))
    with torch.no_grad():
        torch.testing.assert_close(prepared.eval()(_x()), amodel(_x()), rtol=1e-4, atol=1e-5)


def test_weight_bits_put_weights_on_device_levels(tiny_model):
    prepared = prepare(tiny_model, HWAConfig(weight_bits=2, unipolar="positive"))
    w_n = prepared.conv2.normalized_weight()
    levels = torch.tensor([0.0, 1 / 3, 2 / 3, 1.0])
    assert bool((w_n.detach().unsqueeze(-1) - levels).abs().min(dim=-1).values.max() < 1e-6)


def test_to_digital_drops_everything_hardware(tiny_model):
    prepared = prepare(tiny_model, HWAConfig.preset("pcm"))
    digital = to_digital(prepared)
    assert not hwa_layers(digital)
    assert type(digital.conv2) is torch.nn.Conv2d
    assert all("hwa_shared" not in n for n, _ in digital.named_modules())
