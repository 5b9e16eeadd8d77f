"""Unipolar (seed B) training: positive-only weights on 2-bit device levels, BN kept digital,
trained from a sign-aligned initializer, and mapped with one device per weight."""

from __future__ import annotations

import pytest
import torch

import tinycim as tc
from tinycim.errors import ConfigError
from tinycim.nn.convert import analog_layers
from tinycim.train import HWAConfig, TrainConfig, fit, hwa_layers, prepare, to_analog

from tests.train.conftest import TinyNet

LEVELS = torch.tensor([0.0, 1 / 3, 2 / 3, 1.0])


def _hwa(**kw) -> HWAConfig:
    return HWAConfig(**{**dict(unipolar_init="magnitude", clip="std", clip_value=2.5), **kw})


def _hw(sign: str = "positive", preset: str = "pcm") -> tc.AnalogConfig:
    """2-bit positive-only devices, one per weight, 8-bit converters, BN digital (seed B)."""
    import dataclasses

    cfg = tc.AnalogConfig.preset(preset)
    mapping = dataclasses.replace(
        cfg.mapping, polarity="unipolar", unipolar_sign=sign, weight_bits=2, device_bits=2
    )
    return dataclasses.replace(
        cfg, mapping=mapping, fold_bn=False, dac=tc.DACConfig(bits=8), adc=tc.ADCConfig(bits=8)
    )


def _scratch() -> torch.nn.Module:
    torch.manual_seed(0)
    return TinyNet()


def test_unipolar_init_modes(tiny_model):
    projected = prepare(tiny_model, _hwa(unipolar_init="project", clip="none"), _hw())
    flipped = prepare(tiny_model, _hwa(clip="none"), _hw())
    w0 = tiny_model.conv2.weight.detach()
    torch.testing.assert_close(projected.conv2.weight.detach(), w0.clamp(min=0))
    torch.testing.assert_close(flipped.conv2.weight.detach(), w0.abs())
    # digital column signs: every other BN channel starts inhibitory ("project" leaves BN alone)
    g0 = tiny_model.bn1.weight.detach()
    torch.testing.assert_close(projected.bn1.weight.detach(), g0)
    torch.testing.assert_close(flipped.bn1.weight.detach()[0::2], g0[0::2])
    torch.testing.assert_close(flipped.bn1.weight.detach()[1::2], -g0[1::2])
    neg = prepare(tiny_model, _hwa(clip="none"), _hw("negative"))
    torch.testing.assert_close(neg.conv2.weight.detach(), -w0.abs())
    with pytest.raises(ConfigError, match="hwa.unipolar_init"):
        HWAConfig(unipolar_init="zero")
    assert HWAConfig.from_json(_hwa().to_json()) == _hwa()


def test_positive_only_and_2bit_levels_hold_after_training(data):
    hwa = _hwa(noise="device")
    prepared = prepare(_scratch(), hwa, _hw())
    assert isinstance(prepared.bn1, torch.nn.BatchNorm2d)  # BN stays digital
    before = {n: m.weight.detach().clone() for n, m in hwa_layers(prepared)}
    fit(prepared, *data, TrainConfig(epochs=2, lr=1e-2, batch_size=16), progress=False)
    prepared.eval()  # no weight noise: the stored levels
    for name, layer in hwa_layers(prepared):
        w = layer.weight.detach()
        assert not torch.equal(w, before[name])  # it trained
        assert bool((w >= 0).all()), name
        assert float((w > 0).float().mean()) > 0.2, name  # not collapsed to zero
        w_n = layer.normalized_weight()[0].detach()  # no noise
        assert bool((w_n.unsqueeze(-1) - LEVELS).abs().min(dim=-1).values.max() < 1e-6), name


def test_to_analog_maps_one_device_per_weight_without_clipping(data):
    hwa = _hwa()
    cfg = _hw()
    prepared = prepare(_scratch(), hwa, cfg)
    fit(prepared, *data, TrainConfig(epochs=1, lr=1e-2, batch_size=16), progress=False)
    amodel = to_analog(prepared)
    assert isinstance(amodel.bn1, torch.nn.BatchNorm2d)
    layers = analog_layers(amodel)
    assert [n for n, _ in layers] == ["conv1", "conv2", "fc"]
    for name, alayer in layers:
        w = alayer.weight.detach()
        g = alayer.conductances()
        assert g.shape[:2] == (1, 1), name  # one slice, one device per weight (no G- device)
        assert g.shape[2:] == w.shape
        assert bool((w >= 0).all()) and bool((alayer.unipolar_sign > 0).all()), name  # nothing to clip
        levels = g[0, 0] / cfg.device.g_max_us
        assert bool((levels.unsqueeze(-1) - LEVELS).abs().min(dim=-1).values.max() < 1e-5), name
    # the analog model on the ideal device computes what the HWA model computes
    x = data[1].x[:16]
    ideal = to_analog(prepared, _hw(preset="ideal"))
    with torch.no_grad():
        torch.testing.assert_close(prepared.eval()(x), ideal.eval()(x), rtol=1e-2, atol=2e-3)  # ADC rounding


def test_std_clip_of_a_one_signed_layer_bounds_the_distance_from_zero(tiny_model):
    """alpha * sigma clipping of a unipolar layer uses the root mean square: the std of one-signed
    weights is their spread around the mean and at alpha = 2.5 would clip most of a |w| layer."""
    prepared = prepare(tiny_model, _hwa(clip="std", clip_value=2.5), _hw())
    for name, layer in hwa_layers(prepared):
        w = layer.weight.detach()
        aligned = getattr(tiny_model, name).weight.detach().abs()
        bound = 2.5 * float(aligned.square().mean().sqrt())
        assert float(w.max()) <= bound + 1e-6
        torch.testing.assert_close(w, aligned.clamp(max=bound))  # only the tail beyond 2.5 RMS is cut
        assert float(w.max()) > 2.5 * float(aligned.std())  # the std bound would have cut deeper
