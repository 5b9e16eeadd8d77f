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


@pytest.mark.parametrize("mode", ["gaussian", "device"])
def test_noise_scale_multiplies_the_drawn_noise_exactly(tiny_model, mode):
    """noise_scale = k: the same draw (same generator state), k times larger; 0 = no noise."""
    def drawn(scale: float) -> torch.Tensor:
        prepared = prepare(tiny_model, HWAConfig(noise=mode, noise_eta=0.05, noise_scale=scale), seed=7).train()
        return prepared.conv2.normalized_weight().detach() - prepared.conv2.eval().normalized_weight().detach()

    one, three = drawn(1.0), drawn(3.0)
    assert float(one.abs().max()) > 0
    torch.testing.assert_close(three, 3.0 * one)
    assert float(drawn(0.0).abs().max()) == 0.0
    with pytest.raises(tc.ConfigError, match="noise_scale"):
        HWAConfig(noise="device", noise_scale=-1.0)


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


@pytest.mark.parametrize("n_tiles", [1, 2, 3])
def test_fused_tile_adc_equals_per_tile_fake_quant_in_value_and_gradient(n_tiles):
    """fake_quant_tiles is an optimisation of sum_t fake_quant(p_t): same output, same gradients
    (straight-through to every tile, LSQ to the shared full scale)."""
    from tinycim.train.quant import fake_quant, fake_quant_tiles

    gen = torch.Generator().manual_seed(n_tiles)
    parts = [torch.randn(4, 5, 3, generator=gen, dtype=torch.float64) * 2 for _ in range(n_tiles)]
    upstream = torch.randn(4, 5, 3, generator=gen, dtype=torch.float64)
    results = []
    for fused in (True, False):
        ps = [p.clone().requires_grad_(True) for p in parts]
        fs = torch.tensor(1.5, dtype=torch.float64, requires_grad=True)
        out = fake_quant_tiles(ps, fs, 6) if fused else sum(fake_quant(p, fs, 6) for p in ps)
        (out * upstream).sum().backward()
        results.append((out.detach(), [p.grad for p in ps], fs.grad))
    (o1, g1, f1), (o2, g2, f2) = results
    torch.testing.assert_close(o1, o2)
    for a, b in zip(g1, g2):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(f1, f2)
    assert any(bool((p.abs() > 1.5).any()) for p in parts)  # saturation is exercised


def test_fused_tile_adc_needs_a_tile():
    from tinycim.train.quant import fake_quant_tiles

    with pytest.raises(ValueError, match="at least one tile"):
        fake_quant_tiles([], torch.tensor(1.0), 8)


@pytest.mark.parametrize("dim", [1, -1])
def test_split_dac_equals_fake_quant_then_slices(dim):
    """fake_quant_split hands each row tile its slice of the quantized input: same values and
    gradients as fake_quant followed by narrow."""
    from tinycim.train.quant import fake_quant, fake_quant_split

    gen = torch.Generator().manual_seed(3)
    x0 = torch.randn(3, 6, 5, generator=gen, dtype=torch.float64) * 2
    size = x0.shape[dim]
    chunks = ((0, 2), (2, size))
    ups = [torch.randn_like(x0.narrow(dim, c0, c1 - c0)) for c0, c1 in chunks]
    results = []
    for fused in (True, False):
        x = x0.clone().requires_grad_(True)
        fs = torch.tensor(1.5, dtype=torch.float64, requires_grad=True)
        if fused:
            ys = fake_quant_split(x, fs, 4, dim, chunks)
        else:
            y = fake_quant(x, fs, 4)
            ys = [y.narrow(dim, c0, c1 - c0) for c0, c1 in chunks]
        sum((y * u).sum() for y, u in zip(ys, ups)).backward()
        results.append(([y.detach() for y in ys], x.grad, fs.grad))
    (y1, g1, f1), (y2, g2, f2) = results
    for a, b in zip(y1, y2):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(g1, g2)
    torch.testing.assert_close(f1, f2)
    with pytest.raises(ValueError, match="do not cover dim"):
        fake_quant_split(x0, torch.tensor(1.0), 4, dim, ((0, 2), (3, size)))
