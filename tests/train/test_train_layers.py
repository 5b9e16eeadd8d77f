"""Hardware-aware training on the analog layers: each piece changes what it should and nothing else."""

from __future__ import annotations

import dataclasses

import pytest
import torch

import tinycim as tc
from tinycim.train import HWAConfig, constrain_, hwa_layers, init_ranges, prepare, to_analog, to_digital

IDEAL = tc.AnalogConfig.preset("ideal")


def _x(n: int = 16) -> torch.Tensor:
    return torch.randn(n, 1, 8, 8, generator=torch.Generator().manual_seed(n))


def _hw(bits=None, rows=512, **mapping) -> tc.AnalogConfig:
    cfg = dataclasses.replace(
        IDEAL, tile=tc.TileConfig(rows, 512), dac=tc.DACConfig(bits=bits), adc=tc.ADCConfig(bits=bits)
    )
    return dataclasses.replace(cfg, mapping=dataclasses.replace(cfg.mapping, **mapping)) if mapping else cfg


def test_ideal_hardware_and_no_noise_is_the_plain_model(tiny_model):
    prepared = prepare(tiny_model, HWAConfig(), dataclasses.replace(IDEAL, fold_bn=False))
    assert all(p.requires_grad for p in prepared.parameters() if p.dim() > 1)
    prepared.train()
    tiny_model.train()
    torch.testing.assert_close(prepared(_x()), tiny_model(_x()), rtol=1e-6, atol=1e-6)
    assert not isinstance(tiny_model.conv1, tc.nn.AnalogLayerMixin)  # original untouched


def test_prepare_folds_bn_and_keeps_weight_parameters(tiny_model):
    prepared = prepare(tiny_model, HWAConfig(), IDEAL)
    assert isinstance(prepared.bn1, torch.nn.Identity)
    names = [n for n, _ in hwa_layers(prepared)]
    assert names == ["conv1", "conv2", "fc"]
    assert isinstance(prepared.conv1.weight, torch.nn.Parameter)
    torch.testing.assert_close(prepared.eval()(_x()), tiny_model(_x()), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("bits", [8, 6, 4])
@pytest.mark.parametrize("uniform", [False, True])
def test_training_forward_is_the_programmed_ideal_chip(tiny_model, bits, uniform):
    hw = _hw(bits, rows=16, weight_range="uniform" if uniform else "layer")
    prepared = prepare(tiny_model, HWAConfig(), hw)
    assert len(prepared.conv2.geometry.row_chunks) == 4  # 4 channels x 9 rows on 16-row tiles
    init_ranges(prepared, _x(64))
    if uniform:  # one periphery for every layer
        assert prepared.conv1.periphery is prepared.fc.periphery
    amodel = to_analog(prepared)
    tc.program(amodel, seed=0)
    with torch.no_grad():
        y_train, y_chip = prepared.train()(_x()), amodel(_x())
    torch.testing.assert_close(y_train, y_chip, rtol=1e-4, atol=1e-4)


def test_learned_ranges_receive_gradients_and_are_kept_by_to_analog(tiny_model):
    prepared = prepare(tiny_model, HWAConfig(), _hw(4))
    init_ranges(prepared, _x(64))
    prepared.train()
    prepared(_x()).square().sum().backward()
    for _, layer in hwa_layers(prepared):
        assert (
            layer.periphery.dac.log_range.grad is not None and layer.periphery.adc.log_range.grad is not None
        )
    amodel = to_analog(prepared)
    assert not amodel.conv2.periphery.adc.log_range.requires_grad
    assert float(amodel.conv2.output_range) == pytest.approx(float(prepared.conv2.output_range))
    other = to_analog(prepared, dataclasses.replace(_hw(4), gdc="layer"))  # re-targeted: ranges carried
    assert float(other.conv2.input_range) == pytest.approx(float(prepared.conv2.input_range))
    assert float(other.conv2.output_range) == pytest.approx(float(prepared.conv2.output_range))


def test_other_tile_rows_recalibrate_the_adc_instead_of_refusing(tiny_model):
    prepared = prepare(tiny_model, HWAConfig(), _hw(8, rows=16))
    init_ranges(prepared, _x(64))
    with pytest.warns(UserWarning, match="without a range"):
        uncalibrated = to_analog(prepared, _hw(8, rows=512))
    assert torch.isnan(uncalibrated.conv2.output_range)
    amodel = to_analog(prepared, _hw(8, rows=512), calibrate_with=_x(64))
    assert torch.isfinite(amodel.conv2.output_range)
    assert float(amodel.conv2.input_range) == pytest.approx(float(prepared.conv2.input_range))


def test_gaussian_noise_trains_only_and_has_the_requested_scale(tiny_model):
    prepared = prepare(tiny_model, HWAConfig(noise="gaussian", noise_eta=0.05), IDEAL)
    layer = prepared.conv2
    prepared.train()
    with torch.no_grad():
        w0, _ = layer.normalized_weight()
        draws = torch.stack([layer.normalized_weight(noise=True)[0] - w0 for _ in range(200)])
    assert float(draws.std()) == pytest.approx(0.05 * float(w0.abs().max()), rel=0.1)
    prepared.eval()
    with torch.no_grad():
        assert torch.equal(layer.normalized_weight(noise=True)[0], w0)


def test_device_noise_is_the_programmed_chip(tiny_model):
    """Training's device noise programs one chip on the layer's own device: its mean error is the
    drift left after GDC, its spread the programming noise."""
    pcm = tc.AnalogConfig.preset("pcm")
    prepared = prepare(tiny_model, HWAConfig(noise="device"), pcm)
    layer = prepared.conv2
    prepared.train()
    with torch.no_grad():
        w0, _ = layer.normalized_weight()
        draws = torch.stack([layer.normalized_weight(noise=True)[0] - w0 for _ in range(50)])
    # PCM programming noise at g_max is about 1 uS of 25 uS: a few % of full scale per device.
    assert 0.005 < float(draws.std()) < 0.2
    assert float(draws.mean().abs()) < 0.02


@pytest.mark.parametrize("mode", ["gaussian", "device"])
def test_noise_scale_multiplies_the_drawn_noise_exactly(tiny_model, mode):
    def draw(scale):
        prepared = prepare(
            tiny_model, HWAConfig(noise=mode, noise_eta=0.03, noise_scale=scale), "pcm", seed=3
        )
        prepared.train()
        with torch.no_grad():
            w, _ = prepared.conv2.normalized_weight(noise=True)
            return w - prepared.conv2.normalized_weight()[0]

    torch.testing.assert_close(draw(2.5), 2.5 * draw(1.0), rtol=1e-5, atol=1e-6)


def test_clipping_and_fixed_clipping(tiny_model):
    prepared = prepare(tiny_model, HWAConfig(clip="fixed", clip_value=0.05), IDEAL)
    assert float(prepared.conv2.weight.detach().abs().max()) <= 0.05 + 1e-7
    prepared = prepare(tiny_model, HWAConfig(clip="std", clip_value=1.0), IDEAL)
    w = prepared.conv2.weight.detach()
    bound = float(tiny_model.conv2.weight.detach().std())  # conv2 is not folded: the std before clipping
    assert float(w.abs().max()) == pytest.approx(bound, rel=1e-5)


@pytest.mark.parametrize("mode", ["positive", "negative", "auto"])
def test_unipolar_signs_are_enforced(tiny_model, mode):
    hw = _hw(8, rows=16, polarity="unipolar", unipolar_sign=mode, weight_bits=2)
    prepared = prepare(tiny_model, HWAConfig(), hw)
    for _, layer in hwa_layers(prepared):
        sign = layer.unipolar_sign
        assert sign is not None
        if mode != "auto":
            assert bool((sign == (1.0 if mode == "positive" else -1.0)).all())
        with torch.no_grad():
            layer.weight.add_(torch.randn_like(layer.weight))
    constrain_(prepared)
    for _, layer in hwa_layers(prepared):
        assert bool(((layer.weight * layer.unipolar_sign) >= 0).all())


def test_weight_bits_put_weights_on_device_levels(tiny_model):
    prepared = prepare(tiny_model, HWAConfig(), _hw(8, weight_bits=2))
    w_n, significance = prepared.conv2.normalized_weight()
    levels = torch.tensor([0.0, 1 / 3, 2 / 3, 1.0])
    assert bool((w_n.detach().abs().unsqueeze(-1) - levels).abs().min(dim=-1).values.max() < 1e-6)
    assert significance.tolist() == [1.0]


def test_to_digital_drops_everything_hardware(tiny_model):
    prepared = prepare(tiny_model, HWAConfig.preset("pcm"))
    digital = to_digital(prepared)
    assert not tc.analog_layers(digital)
    assert type(digital.conv2) is torch.nn.Conv2d
    assert not hasattr(digital, "tinycim") and not digital._forward_hooks


@pytest.mark.parametrize("n_tiles", [1, 2, 3])
def test_fused_tile_adc_equals_per_tile_fake_quant_in_value_and_gradient(n_tiles):
    """fake_quant_tiles is an optimisation of sum_t fake_quant(p_t): same output, same gradients
    (straight-through to every tile, LSQ to the shared full scale)."""
    from tinycim.tiles.quant import fake_quant, fake_quant_tiles

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
    from tinycim.tiles.quant import fake_quant_tiles

    with pytest.raises(ValueError, match="at least one tile"):
        fake_quant_tiles([], torch.tensor(1.0), 8)


@pytest.mark.parametrize("dim", [1, -1])
def test_split_dac_equals_fake_quant_then_slices(dim):
    """fake_quant_split hands each row tile its slice of the quantized input: same values and
    gradients as fake_quant followed by narrow."""
    from tinycim.tiles.quant import fake_quant, fake_quant_split

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
