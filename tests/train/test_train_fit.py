"""fit: plain equivalence, HamQ, resume equivalence, NaN stop, checkpoints without pickle, run dirs."""

from __future__ import annotations

import copy
import dataclasses
import importlib
import json

import pytest
import torch

from tinycim.errors import ConfigError
from tinycim.config import ADCConfig, AnalogConfig, DACConfig, TileConfig
from tinycim.train import (
    HWAConfig,
    TrainConfig,
    TrainingDivergedError,
    evaluate,
    evaluate_drift,
    fit,
    load_run,
    on_cell_fraction,
    prepare,
    save_run,
    to_analog,
    to_digital,
)
from tinycim.train.hamq import hamq_penalty, popcount, surrogate_popcount

fit_module = importlib.import_module("tinycim.train.fit")  # the module, not the `fit` function

CFG = TrainConfig(epochs=2, lr=5e-3, batch_size=32, seed=0)


def _weights(model) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters() if n.endswith(("weight", "bias"))}


IDEAL = dataclasses.replace(AnalogConfig.preset("ideal"), fold_bn=False)
PCM16 = dataclasses.replace(AnalogConfig.preset("pcm"), tile=TileConfig(16, 512))


def test_ideal_hardware_without_noise_trains_like_the_plain_model(tiny_model, data):
    plain = copy.deepcopy(tiny_model)
    prepared = prepare(tiny_model, HWAConfig(), IDEAL)
    fit(plain, data[0], data[1], CFG, progress=False)
    fit(prepared, data[0], data[1], CFG, progress=False, keep_best=False)  # the same trajectory, to its end
    a, b = _weights(plain), _weights(prepared)
    assert a.keys() <= b.keys()
    assert all(torch.allclose(a[k], b[k], rtol=1e-4, atol=1e-5) for k in a)


def test_hamq_lambda_zero_is_the_plain_run_and_lambda_lowers_on_cells(tiny_model, data):
    hw = dataclasses.replace(IDEAL, fold_bn=True, mapping=dataclasses.replace(IDEAL.mapping, weight_bits=6))
    runs = {}
    for lam in (None, 0.0, 0.05):
        hwa = HWAConfig() if lam is None else HWAConfig(hamq_lambda=lam)
        model = prepare(tiny_model, hwa, hw)
        res = fit(model, data[0], None, TrainConfig(epochs=3, lr=5e-3, batch_size=32), progress=False)
        runs[lam] = (model, res)
    assert hamq_penalty(runs[0.0][0]) is None
    same = runs[None][0].state_dict()
    assert all(
        torch.allclose(same[k], v, rtol=0, atol=0, equal_nan=True)
        for k, v in runs[0.0][0].state_dict().items()
    )
    assert runs[0.05][1].history[-1]["on_cell_fraction"] < runs[0.0][1].history[-1]["on_cell_fraction"]


def test_popcount_and_surrogate():
    q = torch.arange(64.0)
    exact = popcount(q, 6)
    assert exact[:8].tolist() == [0, 1, 1, 2, 1, 2, 2, 3]
    x = (q + 0.2).requires_grad_()
    value = surrogate_popcount(x, 6)
    assert torch.equal(value.detach(), exact)
    value.sum().backward()
    assert x.grad is not None and bool(torch.isfinite(x.grad).all()) and float(x.grad.abs().sum()) > 0


def test_resume_after_kill_equals_uninterrupted_run(tiny_model, data, tmp_path, monkeypatch):
    hwa = HWAConfig.preset("pcm")
    full = prepare(tiny_model, hwa, PCM16)
    fit(full, data[0], data[1], CFG, out_dir=tmp_path / "full", progress=False)

    real_epoch = fit_module._run_epoch

    def killed_in_second_epoch(loop, x, y, epoch, progress):
        if epoch == 1:
            raise KeyboardInterrupt
        return real_epoch(loop, x, y, epoch, progress)

    first = prepare(tiny_model, hwa, PCM16)
    monkeypatch.setattr(fit_module, "_run_epoch", killed_in_second_epoch)
    with pytest.raises(KeyboardInterrupt):
        fit(first, data[0], data[1], CFG, out_dir=tmp_path / "resumed", progress=False)
    monkeypatch.setattr(fit_module, "_run_epoch", real_epoch)
    resumed = prepare(tiny_model, hwa, PCM16)  # a fresh process would rebuild the model like this
    res = fit(resumed, data[0], data[1], CFG, out_dir=tmp_path / "resumed", resume=True, progress=False)
    a, b = full.state_dict(), resumed.state_dict()
    assert all(torch.allclose(a[k], b[k], rtol=0, atol=0, equal_nan=True) for k in a)
    assert len(res.history) == 2
    metrics = json.loads((tmp_path / "resumed" / "metrics.json").read_text())
    assert [row["epoch"] for row in metrics] == [1, 2]
    assert (tmp_path / "resumed" / "checkpoint.safetensors").read_bytes()[
        :8
    ] != b"\x80\x02\x80\x03"  # no pickle


def test_nan_loss_stops_with_a_clear_message(tiny_model, data):
    bad = copy.deepcopy(data[0])
    bad.tensors[0][5, 0, 0, 0] = float("nan")
    with pytest.raises(TrainingDivergedError, match="loss is nan at epoch 1"):
        fit(prepare(tiny_model, HWAConfig(), IDEAL), bad, None, CFG, progress=False)


def test_distillation_and_optimizers_run(tiny_model, data):
    for optimizer in ("sgd", "adam", "adamw"):
        model = prepare(tiny_model, HWAConfig.preset("pcm"))
        cfg = dataclasses.replace(CFG, epochs=1, optimizer=optimizer, scheduler="constant", grad_clip=1.0)
        res = fit(model, data[0], data[1], cfg, teacher=tiny_model, progress=False)
        assert 0 <= res.final_val_acc <= 100


def test_evaluate_drift_and_run_dir_round_trip(tiny_model, data, tmp_path):
    hwa = HWAConfig.preset("pcm")
    model = prepare(tiny_model, hwa, PCM16)
    fit(model, data[0], data[1], dataclasses.replace(CFG, epochs=1), progress=False)
    analog = PCM16
    save_run(tmp_path, "digits_cnn", model, hwa, analog, CFG, [{"epoch": 1}])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "metrics.json", "model.safetensors"]
    amodel = to_analog(model, analog)
    res = evaluate_drift(amodel, data[1], times=[1.0, 86400.0], instances=3, seed=0)
    assert len(res.mean) == 2 and len(res.per_instance[0]) == 3
    assert res.fp_accuracy == pytest.approx(evaluate(to_digital(model), data[1]))
    ideal = evaluate_drift(to_analog(model, IDEAL), data[1], times=[1.0, 1e6], instances=2)
    assert ideal.std == [0.0, 0.0] and ideal.mean[0] == ideal.mean[1]


def test_load_run_restores_the_model(tmp_path, data):
    from tinycim.models import create_model

    torch.manual_seed(0)
    hwa = HWAConfig.preset("pcm")
    analog = dataclasses.replace(
        AnalogConfig.preset("pcm"),
        layers={"head.*": "digital", "features.0.0": {"mapping": {"polarity": "unipolar"}}},
    )
    model = prepare(create_model("digits_cnn", num_classes=10), hwa, analog)
    save_run(tmp_path, "digits_cnn", model, hwa, analog, CFG, [], {"num_classes": 10})
    loaded, hwa2, analog2, meta = load_run(tmp_path)
    assert hwa2 == hwa and analog2 == analog and meta["model"]["name"] == "digits_cnn"
    x = torch.randn(4, *model.input_shape)
    torch.testing.assert_close(loaded.eval()(x), model.eval()(x))
    assert on_cell_fraction(loaded) is None


@pytest.mark.parametrize("bits", [8, 6, 4])
def test_fixed_gain_converters_train_at_8_6_4_bits(tiny_model, data, bits):
    hwa = HWAConfig()
    hw = dataclasses.replace(
        IDEAL, fold_bn=True, tile=TileConfig(16, 512), dac=DACConfig(bits=bits), adc=ADCConfig(bits=bits)
    )
    model = prepare(tiny_model, hwa, hw)
    res = fit(model, data[0], None, TrainConfig(epochs=3, lr=1e-2, batch_size=32), progress=False)
    losses = [row["loss"] for row in res.history]
    assert all(map(lambda v: v == v, losses)) and losses[-1] < losses[0]
    start = prepare(tiny_model, hwa, hw)
    from tinycim.train import init_ranges

    init_ranges(start, data[0].tensors[0][:512])
    assert float(model.conv2.output_range) != float(start.conv2.output_range)  # learned


def test_a_run_saved_before_har_cnn_standardized_by_default_still_loads(tmp_path):
    """Runs record create_model's kwargs; one written when har_cnn had no input norm by default
    (no `input_norm` kwarg, no input_norm weights) is rebuilt as it was."""
    from tinycim.models import create_model

    plain = create_model("har_cnn", num_classes=6, input_norm=False, seed=0)
    save_run(tmp_path, "har_cnn", plain, None, AnalogConfig.preset("pcm"), CFG, [], {"num_classes": 6})
    loaded, hwa, _, _ = load_run(tmp_path)
    assert hwa is None and not any(n.startswith("input_norm.") for n in loaded.state_dict())


@pytest.mark.parametrize(
    "change, field",
    [({"lr": 0.5}, r"train\.lr = "), ({"seed": 7}, r"train\.seed = "), ({"epochs": 5}, r"train\.epochs = ")],
)
def test_resume_with_other_settings_is_refused_naming_the_field(tiny_model, data, tmp_path, change, field):
    """A resumed run must not continue an old checkpoint under new settings (the run directory would
    describe a run that never happened)."""
    fit(prepare(tiny_model, HWAConfig(), PCM16), data[0], data[1], CFG, out_dir=tmp_path, progress=False)
    other = dataclasses.replace(CFG, **change)
    with pytest.raises(ConfigError, match=field + r".*settings changed"):
        fit(prepare(tiny_model, HWAConfig(), PCM16), data[0], data[1], other, out_dir=tmp_path, resume=True)


def test_resume_with_other_data_or_hardware_is_refused(tiny_model, data, tmp_path):
    fit(prepare(tiny_model, HWAConfig(), PCM16), data[0], data[1], CFG, out_dir=tmp_path, progress=False)
    x, y = data[0].tensors
    shifted = torch.utils.data.TensorDataset(x + 1.0, y)
    with pytest.raises(ConfigError, match=r"data\.train = .*the data changed"):
        fit(prepare(tiny_model, HWAConfig(), PCM16), shifted, data[1], CFG, out_dir=tmp_path, resume=True)
    other_hw = dataclasses.replace(PCM16, adc=dataclasses.replace(PCM16.adc, bits=6))
    with pytest.raises(ConfigError, match=r"analog\.adc\.bits = 8, this run has 6"):
        fit(prepare(tiny_model, HWAConfig(), other_hw), data[0], data[1], CFG, out_dir=tmp_path, resume=True)
    # the same settings resume (nothing left to train: the history is the finished run's)
    res = fit(prepare(tiny_model, HWAConfig(), PCM16), data[0], data[1], CFG, out_dir=tmp_path, resume=True)
    assert len(res.history) == CFG.epochs
