"""One analog layer per op: training simulates exactly the programmed chip, and one hardware
description (with per-layer overrides) is what is saved, loaded, exported, costed and pickled."""

from __future__ import annotations

import copy
import dataclasses
import pickle

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

import tinycim as tc
from tinycim.evaluate import export_analog, load_export
from tinycim.train import HWAConfig, init_ranges, prepare, to_analog

IDEAL = tc.AnalogConfig.preset("ideal")


def _model(kind: str, seed: int) -> tuple[nn.Module, torch.Tensor]:
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed + 1)
    if kind == "linear":
        return nn.Sequential(nn.Linear(24, 10), nn.ReLU(), nn.Linear(10, 5)), torch.randn(
            12, 24, generator=gen
        )
    if kind == "conv1d":
        return nn.Sequential(nn.Conv1d(5, 6, 3, padding=1), nn.ReLU(), nn.Conv1d(6, 4, 3)), torch.randn(
            12, 5, 9, generator=gen
        )
    if kind == "depthwise":
        return nn.Sequential(
            nn.Conv2d(4, 8, 3, padding=1, groups=4), nn.ReLU(), nn.Conv2d(8, 6, 1)
        ), torch.randn(12, 4, 6, 6, generator=gen)
    return nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 4, 3)), torch.randn(
        12, 3, 7, 7, generator=gen
    )


@st.composite
def hardware(draw) -> tc.AnalogConfig:
    bits = draw(st.sampled_from([4, 6, 8]))
    rows = draw(st.sampled_from([9, 16, 40, 512]))
    levels = draw(st.sampled_from([(None, None), (4, 1), (4, 2), (4, 4), (6, 2)]))
    polarity = draw(st.sampled_from(["differential", "unipolar"]))
    weight_range = draw(st.sampled_from(["layer", "column", "uniform"]))
    mapping = tc.MappingConfig(
        polarity=polarity,
        unipolar_sign="auto",
        weight_range=weight_range,
        weight_bits=levels[0],
        device_bits=levels[1],
    )
    cfg = dataclasses.replace(
        IDEAL,
        tile=tc.TileConfig(rows, 64),
        mapping=mapping,
        dac=tc.DACConfig(bits=bits),
        adc=tc.ADCConfig(bits=bits),
        fold_bn=False,
    )
    if draw(st.booleans()):  # mixed: the first layer gets the other polarity and its own levels
        other = "differential" if polarity == "unipolar" else "unipolar"
        cfg = dataclasses.replace(
            cfg, layers={"0": {"mapping": {"polarity": other, "weight_bits": 3, "device_bits": 1}}}
        )
    return cfg


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cfg=hardware(), kind=st.sampled_from(["linear", "conv1d", "conv2d", "depthwise"]), seed=st.integers(0, 99)
)
def test_training_forward_equals_the_programmed_chip_with_noise_off(cfg, kind, seed):
    """Ideal devices, noise off: the hardware-aware forward (what training sees) and the programmed
    chip's forward (what inference runs) give the same outputs, for every layer type, converter
    bits, tile size, polarity (also mixed per layer), weight slicing and weight range."""
    model, x = _model(kind, seed)
    prepared = prepare(model, HWAConfig(), cfg)
    init_ranges(prepared, x)
    chip = to_analog(prepared)
    tc.program(chip, seed=seed)
    with torch.no_grad():
        y_train = prepared.train()(x)
        y_chip = chip(x)
    scale = float(y_train.abs().max()) + 1e-6
    # Equal up to float rounding; a partial sum landing on a converter's rounding boundary may
    # flip one code, so allow rare single-LSB differences (1 ADC step of the largest tile).
    close = torch.isclose(y_chip, y_train, rtol=1e-4, atol=1e-5 * scale)
    assert float(close.float().mean()) > 0.995, float((y_chip - y_train).abs().max())


def _mixed() -> tuple[nn.Module, tc.AnalogConfig, torch.Tensor]:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(2, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(8 * 6 * 6, 16),
        nn.ReLU(),
        nn.Linear(16, 4),
    ).eval()
    cfg = dataclasses.replace(
        tc.AnalogConfig.preset("pcm"),
        layers={
            "0": {"mapping": {"polarity": "unipolar", "unipolar_sign": "auto"}},
            "3": {"mapping": {"weight_bits": 4, "device_bits": 2}},
            "8": "digital",
        },
    )
    x = torch.randn(16, 2, 6, 6, generator=torch.Generator().manual_seed(0))
    return model, cfg, x


def test_per_layer_overrides_are_what_runs():
    model, cfg, x = _mixed()
    amodel = tc.convert(model, cfg)
    layers = dict(tc.analog_layers(amodel))
    assert sorted(layers) == ["0", "3", "6"] and type(amodel[8]) is nn.Linear
    assert (
        layers["0"].analog_config.mapping.polarity == "unipolar" and layers["0"].conductances().shape[1] == 1
    )
    assert layers["3"].analog_config.mapping.slices == 2 and layers["3"].conductances().shape[:2] == (2, 2)
    assert layers["6"].analog_config.mapping == cfg.mapping
    assert amodel.tinycim.report.kept_digital == ["8"]
    with pytest.warns(UserWarning, match=r"match no Linear/Conv layer"):
        tc.convert(model, dataclasses.replace(cfg, layers={"fetaures.*": "digital"}))
    with pytest.raises(tc.ConfigError, match=r"layers\['0'\]: mapping.weight_bits = 40"):
        dataclasses.replace(cfg, layers={"0": {"mapping": {"weight_bits": 40}}})


def test_save_load_pickle_deepcopy_and_export_round_trips(tmp_path):
    model, cfg, x = _mixed()
    amodel = tc.convert(model, cfg)
    tc.calibrate(amodel, x)
    with torch.no_grad():
        y_unprogrammed = amodel(x)
    export_analog(amodel, tmp_path / "export")
    reimported = load_export(model, tmp_path / "export")
    with torch.no_grad():
        torch.testing.assert_close(reimported(x), y_unprogrammed, rtol=1e-5, atol=1e-5)
    tc.program(amodel, seed=3, instances=2)
    tc.drift(amodel, 86400.0)
    with torch.no_grad():
        y = amodel(x)
    tc.save(amodel, tmp_path / "m.safetensors")
    loaded = tc.load(model, tmp_path / "m.safetensors")
    for other in (loaded, pickle.loads(pickle.dumps(amodel)), copy.deepcopy(amodel)):
        with torch.no_grad():
            assert torch.equal(other(x), y)
        assert dict(tc.analog_layers(other))["0"].analog_config.mapping.polarity == "unipolar"
    digital = tc.to_digital(amodel)
    assert type(digital) is nn.Sequential and pickle.loads(pickle.dumps(digital)) is not None
    with torch.no_grad():
        torch.testing.assert_close(digital(x), tc.to_digital(tc.convert(model, cfg))(x))


def test_export_writes_each_layers_own_mapping(tmp_path):
    import json

    model, cfg, x = _mixed()
    amodel = tc.convert(model, cfg)
    tc.calibrate(amodel, x)
    doc = json.loads(export_analog(amodel, tmp_path).read_text())
    by_name = {entry["name"]: entry for entry in doc["layers"]}
    assert by_name["0"]["polarity"] == "unipolar" and all("sign" in b for b in by_name["0"]["tile_blocks"])
    assert by_name["6"]["polarity"] == "differential"
    assert len(by_name["3"]["slice_significance"]) == 2
    assert "8" not in by_name


def test_programmed_model_moves_to_float64_and_agrees():
    model, cfg, x = _mixed()
    amodel = tc.convert(model, cfg)
    tc.calibrate(amodel, x)
    tc.program(amodel, seed=0, instances=2)
    tc.drift(amodel, 3600.0)
    with torch.no_grad():
        y32 = amodel(x)
        a64 = copy.deepcopy(amodel).to(torch.float64)
        assert a64[0].prog_g.dtype == torch.float64
        y64 = a64(x.double())
    close = torch.isclose(y64.float(), y32, rtol=1e-4, atol=1e-4)
    assert float(close.float().mean()) > 0.99


def test_torch_compile_gives_the_eager_outputs():
    model, cfg, x = _mixed()
    amodel = tc.convert(model, cfg)
    tc.calibrate(amodel, x)
    tc.program(amodel, seed=0, instances=2)
    tc.drift(amodel, 60.0)
    try:
        with torch.no_grad():
            eager = amodel(x)
            compiled = torch.compile(amodel)(x)
    finally:
        # Older torch (2.5 here) loads inductor's CPU kernels built with -ffast-math, which turns on
        # flush-to-zero for the whole process: numpy then warns on every finfo, and later tests fail.
        torch.set_flush_denormal(False)
    torch.testing.assert_close(compiled, eager, rtol=1e-5, atol=1e-5)


def test_layer_sensitivity_puts_one_layer_at_a_time_on_the_device():
    from tinycim.data.dataset import Dataset
    from tinycim.evaluate import layer_sensitivity, on_one_layer

    model, cfg, x = _mixed()
    one = on_one_layer(cfg, "3")
    assert one.for_layer("0").device.kind == "ideal" and one.for_layer("0").dac.bits is None
    assert one.for_layer("3").mapping.slices == 2 and one.for_layer("3").device.kind == "pcm"
    with torch.no_grad():
        y = model(x).argmax(1)
    ds = Dataset(x, y, classes=["a", "b", "c", "d"], name="toy", split="test")
    rows = layer_sensitivity(model, ds, cfg, instances=2, calibrate_with=x)
    assert sorted(r["layer"] for r in rows) == ["0", "3", "6"]  # "8" is kept digital by the config
    assert [r["loss_pp"] for r in rows] == sorted((r["loss_pp"] for r in rows), reverse=True)
    assert all(0 <= r["acc"] <= 100 for r in rows)


@pytest.mark.parametrize("device", [tc.PCMDevice(), tc.RRAMDevice()])
def test_nothing_is_created_on_the_default_device(device):
    """Training, programming, drift and inference create every tensor and generator on the device
    of the model's own tensors: with the default device set to "meta", a tensor made without
    following the model (what would break on a GPU) could not be combined with the CPU model."""
    model, cfg, x = _mixed()
    cfg = dataclasses.replace(cfg, device=device, tile=tc.TileConfig(40, 64))
    prepared = prepare(model, HWAConfig(noise="device"), cfg)
    init_ranges(prepared, x)
    with torch.device("meta"):
        prepared.train()
        prepared(x).sum().backward()
        amodel = to_analog(prepared)
        tc.program(amodel, seed=0, instances=2)
        tc.drift(amodel, 100.0)
        with torch.no_grad():
            y = amodel(x)
    assert y.device.type == "cpu" and torch.isfinite(y).all()
