"""Analog layers and the convert / program / drift contract."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

import tinycim as tc
from tests.core.conftest import conv_stack


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


def test_ideal_preset_reproduces_fp32(mixed_net, image_batch) -> None:
    amodel = tc.convert(mixed_net, "ideal")
    with torch.no_grad():
        assert rel_err(amodel(image_batch), mixed_net(image_batch)) < 1e-5
        tc.program(amodel, seed=0, instances=3)
        y = amodel(image_batch).view(3, image_batch.shape[0], -1)
        for k in range(3):
            assert rel_err(y[k], mixed_net(image_batch)) < 1e-5


def test_convert_leaves_model_untouched_and_reports(mixed_net) -> None:
    before = {k: v.clone() for k, v in mixed_net.state_dict().items()}
    amodel = tc.convert(mixed_net, "pcm")
    for k, v in mixed_net.state_dict().items():
        assert torch.equal(v, before[k])
    report = amodel.tinycim.report
    assert set(report.analog) == {"conv1d", "conv", "grouped", "depthwise", "pointwise", "fc"}
    assert report.folded_bn == [("conv", "bn")]
    assert isinstance(amodel.conv.weight, nn.Parameter)
    assert any(p is amodel.conv.weight for p in amodel.parameters())


@pytest.mark.parametrize("rows, cols", [(9, 3), (16, 16), (40, 7), (512, 512)])
def test_any_tile_size_gives_the_same_ideal_result(mixed_net, image_batch, rows, cols) -> None:
    cfg = dataclasses.replace(tc.AnalogConfig.preset("ideal"), tile=tc.TileConfig(rows, cols))
    with torch.no_grad():
        assert rel_err(tc.convert(mixed_net, cfg)(image_batch), mixed_net(image_batch)) < 1e-5


def test_unipolar_and_differential_agree_in_the_ideal_limit(image_batch) -> None:
    net = conv_stack()
    with torch.no_grad():
        for p in net.parameters():
            p.abs_()  # unipolar (all-positive) weights
    ideal = tc.AnalogConfig.preset("ideal")
    uni = dataclasses.replace(ideal, mapping=tc.MappingConfig(polarity="unipolar"))
    a, b = tc.convert(net, ideal), tc.convert(net, uni)
    tc.program(a, seed=0)
    tc.program(b, seed=0)
    with torch.no_grad():
        torch.testing.assert_close(a(image_batch), b(image_batch), rtol=1e-5, atol=1e-6)
    # one device per weight instead of a pair
    assert b[0].conductances().shape[1] == 1 and a[0].conductances().shape[1] == 2


def test_unipolar_negative_tiles_are_negated_digitally(image_batch) -> None:
    net = conv_stack()
    with torch.no_grad():
        net[2].weight.copy_(-net[2].weight.abs())
        net[0].weight.abs_()
        net[4].weight.abs_()
        net[-1].weight.abs_()
    cfg = dataclasses.replace(tc.AnalogConfig.preset("ideal"), mapping=tc.MappingConfig(polarity="unipolar"))
    with torch.no_grad():
        assert rel_err(tc.convert(net, cfg)(image_batch), net(image_batch)) < 1e-5


def test_same_seed_same_outputs_different_seed_different(mixed_net, image_batch) -> None:
    outs = []
    for seed in (0, 0, 1):
        amodel = tc.convert(mixed_net, "pcm")
        tc.program(amodel, seed=seed, instances=2)
        tc.drift(amodel, 86400.0)
        with torch.no_grad():
            outs.append(amodel(image_batch))
    assert torch.equal(outs[0], outs[1])
    assert not torch.allclose(outs[0], outs[2])


def test_instances_are_independent_and_instance_major(mixed_net, image_batch) -> None:
    amodel = tc.convert(mixed_net, "pcm")
    tc.program(amodel, seed=3, instances=4)
    with torch.no_grad():
        y = amodel(image_batch)
    assert y.shape == (4 * image_batch.shape[0], 5)
    per = y.view(4, image_batch.shape[0], 5)
    assert not torch.allclose(per[0], per[1])
    ref = mixed_net(image_batch).detach()
    for k in range(4):  # each instance is a noisy copy of the same network
        assert rel_err(per[k], ref) < 0.5


def test_nan_weights_are_refused_at_program_with_the_layer_name(mixed_net) -> None:
    amodel = tc.convert(mixed_net, "pcm")
    with torch.no_grad():
        amodel.grouped.weight[0, 0, 0, 0] = float("nan")
    with pytest.raises(tc.MappingError, match="grouped"):
        tc.program(amodel, seed=0)


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_negative_or_nonfinite_time_is_refused(mixed_net, bad) -> None:
    amodel = tc.program(tc.convert(mixed_net, "pcm"), seed=0)
    with pytest.raises(ValueError, match="seconds"):
        tc.drift(amodel, bad)


def test_drift_before_program_and_bad_instances_are_clear_errors(mixed_net) -> None:
    amodel = tc.convert(mixed_net, "pcm")
    with pytest.raises(tc.ConfigError, match="program"):
        tc.drift(amodel, 1.0)
    with pytest.raises(tc.ConfigError, match="instances"):
        tc.program(amodel, seed=0, instances=0)


@pytest.mark.parametrize("gdc", ["layer", "column"])
def test_global_drift_compensation_restores_the_output_scale(gdc) -> None:
    torch.manual_seed(0)
    layer = nn.Linear(128, 32, bias=False)  # digital biases do not drift: only the analog part
    x = torch.randn(64, 128, generator=torch.Generator().manual_seed(2))
    quiet = tc.PCMDevice(prog_noise_scale=0.0, read_noise_scale=0.0)
    base = dataclasses.replace(tc.AnalogConfig.preset("ideal"), device=quiet)
    scales = {}
    for name, cfg in {"off": base, "on": dataclasses.replace(base, gdc=gdc)}.items():
        amodel = tc.program(tc.convert(layer, cfg), seed=0)
        with torch.no_grad():
            y0 = amodel(x).abs().mean()
            tc.drift(amodel, 3.15e7)
            scales[name] = float(amodel(x).abs().mean() / y0)
    assert scales["off"] < 0.6  # a year of drift: (t/t0)^-nu with nu ~ 0.05-0.1
    assert scales["on"] == pytest.approx(1.0, abs=0.03)


def test_fast_inference_path_matches_the_differentiable_path(image_batch) -> None:
    net = conv_stack(channels=40)  # 360 rows: two row tiles of 256-row arrays
    cfg = dataclasses.replace(tc.AnalogConfig.preset("pcm"), tile=tc.TileConfig(256, 256))
    amodel = tc.convert(net, cfg)
    tc.calibrate(amodel, image_batch)
    tc.program(amodel, seed=0, instances=2)
    tc.drift(amodel, 3600.0)
    assert len(amodel[2].geometry.row_chunks) == 2
    with torch.no_grad():
        fast = amodel(image_batch)
    x = image_batch.clone().requires_grad_(True)
    slow = amodel(x)
    torch.testing.assert_close(fast, slow.detach(), rtol=1e-4, atol=1e-4)


def test_bit_slicing_equals_unsliced_quantized_weights(image_batch) -> None:
    net = conv_stack()
    ideal = tc.AnalogConfig.preset("ideal")
    whole = dataclasses.replace(ideal, mapping=tc.MappingConfig(weight_bits=6))
    sliced = dataclasses.replace(ideal, mapping=tc.MappingConfig(weight_bits=6, device_bits=2))
    a, b = tc.program(tc.convert(net, whole), seed=0), tc.program(tc.convert(net, sliced), seed=0)
    assert b[0].conductances().shape[0] == 3  # three 2-bit devices per weight magnitude
    with torch.no_grad():
        torch.testing.assert_close(a(image_batch), b(image_batch), rtol=1e-5, atol=1e-6)
        assert rel_err(a(image_batch), net(image_batch)) < 0.1  # 6-bit weights: close, not exact
        assert rel_err(a(image_batch), net(image_batch)) > 1e-6


def test_depthwise_utilisation_is_reported_not_hidden(mixed_net) -> None:
    amodel = tc.convert(mixed_net, tc.AnalogConfig.preset("pcm"))
    geo = amodel.depthwise.geometry
    assert geo.weight_cells == 16 * 9
    assert geo.utilization < 0.01
    assert amodel.pointwise.geometry.utilization == pytest.approx(16 * 24 / 512**2)


def test_save_and_load_round_trip_programmed_state(mixed_net, image_batch, tmp_path) -> None:
    amodel = tc.convert(mixed_net, "pcm")
    tc.calibrate(amodel, image_batch)
    tc.program(amodel, seed=5, instances=2)
    tc.drift(amodel, 86400.0)
    path = tmp_path / "analog.safetensors"
    tc.save(amodel, path)
    loaded = tc.load(type(mixed_net)(), path)
    with torch.no_grad():
        assert torch.equal(loaded(image_batch), amodel(image_batch))
    assert loaded.tinycim.t_inf == 86400.0


def test_load_refuses_foreign_files(tmp_path, mixed_net) -> None:
    bad = tmp_path / "x.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(tc.DataError, match="x.safetensors"):
        tc.load(mixed_net, bad)


def test_calibrate_fixes_converter_ranges(mixed_net, image_batch) -> None:
    amodel = tc.convert(mixed_net, "pcm")
    tc.calibrate(amodel, image_batch, percentile=100.0)
    for _, layer in tc.analog_layers(amodel):
        assert float(layer.input_range) > 0 and float(layer.output_range) > 0
    assert float(amodel.conv.input_range) == pytest.approx(float(image_batch.abs().max()))


def test_weight_is_trainable_through_the_unprogrammed_analog_model(mixed_net, image_batch) -> None:
    amodel = tc.convert(mixed_net, "pcm")
    amodel(image_batch).sum().backward()
    assert amodel.conv.weight.grad is not None and amodel.conv.weight.grad.abs().sum() > 0
