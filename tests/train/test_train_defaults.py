"""Issue 15: the default recipe in one place, best-epoch selection, the collapse warning, the two
references of a drift sweep, and TensorBoard scalars from `fit`."""

from __future__ import annotations

import dataclasses
import importlib

import pytest
import torch

from tinycim.config import AnalogConfig, DACConfig, ADCConfig, TileConfig
from tinycim.devices import IdealDevice
from tinycim.errors import ConfigError
from tinycim.train import HWAConfig, TrainConfig, evaluate, evaluate_drift, fit, prepare, to_analog
from tinycim.train.config import (
    DEFAULT_FP_TRAIN,
    DEFAULT_HWA_TRAIN,
    HWA_LR_FRACTION,
    HWA_PRESETS,
    train_defaults,
)
from tinycim.evaluate.drift import REFERENCE_DISAGREE_PP, ideal_config

fit_module = importlib.import_module("tinycim.train.fit")
CONST = TrainConfig(epochs=3, lr=5e-3, batch_size=32, seed=0, scheduler="constant")
IDEAL8 = dataclasses.replace(AnalogConfig.preset("ideal"), dac=DACConfig(bits=8), adc=ADCConfig(bits=8))


# ---- the default recipe ----------------------------------------------------------------------
def test_default_recipe_is_one_policy_with_a_fine_tuning_rate_below_the_fp_rate():
    main, pre = train_defaults(hwa=True)
    assert pre == DEFAULT_FP_TRAIN and main == DEFAULT_HWA_TRAIN
    assert main.lr == pytest.approx(pre.lr * HWA_LR_FRACTION) and main.lr < pre.lr
    assert train_defaults(hwa=False) == (DEFAULT_FP_TRAIN, None)
    main, pre = train_defaults(hwa=True, epochs=3, lr=1e-2)
    assert (main.epochs, pre.epochs, pre.lr) == (3, 3, 1e-2) and main.lr == pytest.approx(
        1e-2 * HWA_LR_FRACTION
    )
    pcm = HWA_PRESETS["pcm"]
    assert pcm.noise == "device" and pcm.noise_warmup > 0 and pcm.noise_scale >= 1  # the noise warms up


def test_cli_train_configs_start_from_the_defaults_and_options_win():
    from tinycim.cli.train_cmd import train_configs

    main, pre = train_configs(True, {}, None, None, None, None, None)
    assert (main, pre) == (DEFAULT_HWA_TRAIN, DEFAULT_FP_TRAIN)
    main, pre = train_configs(
        True, {"train": {"lr": 1e-4, "label_smoothing": 0.2}, "pretrain": {"epochs": 7}}, 4, 5, None, 16, None
    )
    assert (main.lr, main.epochs, main.seed, main.batch_size) == (1e-4, 4, 5, 16)
    assert (pre.lr, pre.epochs, pre.seed, pre.label_smoothing) == (DEFAULT_FP_TRAIN.lr, 7, 5, 0.2)
    main, pre = train_configs(True, {"pretrain": {"lr": 4e-3}}, None, None, None, None, 2)
    assert pre.epochs == 2 and main.lr == pytest.approx(4e-3 * HWA_LR_FRACTION)
    main, pre = train_configs(False, {}, 2, None, 3e-3, None, None)
    assert pre is None and (main.epochs, main.lr, main.label_smoothing) == (
        2,
        3e-3,
        DEFAULT_FP_TRAIN.label_smoothing,
    )


def test_har_cnn_standardizes_its_input_by_default():
    from tinycim.cli.train_cmd import default_options
    from tinycim.models import create_model

    assert not isinstance(create_model("har_cnn").input_norm, torch.nn.Identity)
    assert isinstance(create_model("har_cnn", input_norm=False).input_norm, torch.nn.Identity)
    assert default_options("har_cnn") == {"input_norm": True}


# ---- best epoch and collapse warning ---------------------------------------------------------
def _scripted_evaluate(monkeypatch, values):
    """`fit`'s validation returns `values` in order (one per epoch, teacher first when given)."""
    queue = list(values)
    monkeypatch.setattr(fit_module, "evaluate", lambda *a, **k: queue.pop(0))


def _weights(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items() if v.is_floating_point()}


def _same(a, b) -> bool:
    """Equal state dicts, bit for bit (a weight range not set yet is NaN in both)."""
    return a.keys() == b.keys() and all(torch.allclose(a[k], b[k], rtol=0, atol=0, equal_nan=True) for k in a)


def test_fit_keeps_the_best_epoch_of_a_prepared_model(tiny_model, data, monkeypatch):
    ref = prepare(tiny_model, HWAConfig(), IDEAL8)
    fit(ref, data[0], data[1], dataclasses.replace(CONST, epochs=2), progress=False, keep_best=False)
    _scripted_evaluate(monkeypatch, [50.0, 80.0, 60.0])
    model = prepare(tiny_model, HWAConfig(), IDEAL8)
    res = fit(model, data[0], data[1], CONST, progress=False)  # keep_best: default on for a prepared model
    assert (res.best_epoch, res.restored_epoch, res.final_val_acc) == (2, 2, 60.0)
    assert _same(_weights(ref), _weights(model))


def test_best_epoch_survives_a_kill_and_resume(tiny_model, data, tmp_path, monkeypatch):
    _scripted_evaluate(monkeypatch, [50.0, 80.0, 60.0])
    whole = prepare(tiny_model, HWAConfig(), IDEAL8)
    fit(whole, data[0], data[1], CONST, progress=False)
    _scripted_evaluate(monkeypatch, [50.0, 80.0, 60.0])
    real_epoch = fit_module._run_epoch

    def dies_in_epoch_3(*args):
        if args[3] == 2:  # (loop, x, y, epoch, progress)
            raise KeyboardInterrupt
        return real_epoch(*args)

    monkeypatch.setattr(fit_module, "_run_epoch", dies_in_epoch_3)
    killed = prepare(tiny_model, HWAConfig(), IDEAL8)
    with pytest.raises(KeyboardInterrupt):
        fit(killed, data[0], data[1], CONST, out_dir=tmp_path, progress=False)
    assert (tmp_path / fit_module.BEST_NAME).is_file()
    monkeypatch.setattr(fit_module, "_run_epoch", real_epoch)
    resumed = prepare(tiny_model, HWAConfig(), IDEAL8)
    res = fit(resumed, data[0], data[1], CONST, out_dir=tmp_path, resume=True, progress=False)
    assert res.restored_epoch == 2
    assert _same(_weights(whole), _weights(resumed))


def test_plain_model_ends_on_its_last_epoch_unless_asked(tiny_model, data, monkeypatch):
    _scripted_evaluate(monkeypatch, [50.0, 80.0, 60.0])
    res = fit(tiny_model, data[0], data[1], CONST, progress=False)
    assert res.best_epoch == 2 and res.restored_epoch is None


def test_fit_warns_when_the_hardware_aware_model_collapses(tiny_model, data, monkeypatch):
    _scripted_evaluate(monkeypatch, [90.0, 40.0, 45.0, 50.0])  # teacher 90 %, student at most 50 %
    model = prepare(tiny_model, HWAConfig(), IDEAL8)
    with pytest.warns(
        UserWarning, match=r"40.00 pp below its FP teacher's 90.00 %: the fine-tuning collapsed"
    ):
        res = fit(model, data[0], data[1], CONST, teacher=tiny_model, progress=False)
    assert res.teacher_val_acc == 90.0
    _scripted_evaluate(monkeypatch, [90.0, 86.0, 87.0, 88.0])  # within HWA_COLLAPSE_WARN_PP: silent
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit(
            prepare(tiny_model, HWAConfig(), IDEAL8),
            data[0],
            data[1],
            CONST,
            teacher=tiny_model,
            progress=False,
        )


# ---- TensorBoard -----------------------------------------------------------------------------
def test_fit_writes_per_epoch_scalars_to_tensorboard(tiny_model, data, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    model = prepare(tiny_model, HWAConfig(noise="gaussian", noise_eta=0.02, noise_warmup=1.0), IDEAL8)
    res = fit(
        model,
        data[0],
        data[1],
        dataclasses.replace(CONST, epochs=2),
        out_dir=tmp_path,
        progress=False,
        tensorboard=True,
    )
    acc = EventAccumulator(str(tmp_path / "tb"))
    acc.Reload()
    val = [(e.step, e.value) for e in acc.Scalars("val/accuracy")]
    assert [s for s, _ in val] == [1, 2]
    assert [v for _, v in val] == pytest.approx([row["val_acc"] for row in res.history])
    assert [e.value for e in acc.Scalars("train/noise_factor")] == pytest.approx([0.5, 1.0])
    assert {"train/loss", "train/accuracy", "train/lr"} <= set(acc.Tags()["scalars"])
    with pytest.raises(ConfigError, match="needs out_dir"):
        fit(model, data[0], data[1], CONST, tensorboard=True, progress=False)


# ---- two references of a drift sweep ---------------------------------------------------------
def test_ideal_config_keeps_the_converters_and_drops_the_device():
    pcm = dataclasses.replace(
        AnalogConfig.preset("pcm"),
        adc=ADCConfig(bits=6, noise=0.05),
        layers={"fc": {"device": {"kind": "rram"}, "dac": {"bits": 4}}, "conv1": "digital"},
    )
    ideal = ideal_config(pcm)
    assert isinstance(ideal.device, IdealDevice) and ideal.gdc is None
    assert (ideal.dac, ideal.adc.bits, ideal.adc.noise, ideal.tile) == (pcm.dac, 6, 0.0, pcm.tile)
    assert ideal.layers == {"fc": {"dac": {"bits": 4}}, "conv1": "digital"}


def _trained(tiny_model, data, analog):
    model = prepare(tiny_model, HWAConfig(), analog)
    fit(model, data[0], data[1], TrainConfig(epochs=6, lr=1e-2, batch_size=16), progress=False)
    return to_analog(model)


def test_drift_sweep_reports_the_ideal_device_reference(tiny_model, data):
    pcm = dataclasses.replace(AnalogConfig.preset("pcm"), tile=TileConfig(16, 512))
    amodel = _trained(tiny_model, data, pcm)
    res = evaluate_drift(amodel, data[1], times=[86400.0], instances=3)
    same = evaluate(to_analog(amodel, ideal_config(pcm)), data[1])  # converters only, no device
    assert res.ideal_accuracy == pytest.approx(same)
    assert res.converter_loss == pytest.approx(res.fp_accuracy - same)
    # without converters an ideal chip is the digital model
    none = dataclasses.replace(pcm, dac=DACConfig(bits=None), adc=ADCConfig(bits=None))
    res = evaluate_drift(_trained(tiny_model, data, none), data[1], times=[1.0], instances=2)
    assert res.ideal_accuracy == pytest.approx(res.fp_accuracy, abs=100 / len(data[1]))


def test_drift_sweep_warns_when_the_converters_alone_cost_points(tiny_model, data):
    two_bit = dataclasses.replace(AnalogConfig.preset("pcm"), dac=DACConfig(bits=2), adc=ADCConfig(bits=2))
    plain = prepare(tiny_model, HWAConfig(), AnalogConfig.preset("ideal"))
    fit(plain, data[0], data[1], TrainConfig(epochs=6, lr=1e-2, batch_size=16), progress=False)
    amodel = to_analog(plain, two_bit, calibrate_with=data[0].tensors[0])
    res = evaluate_drift(amodel, data[1], times=[1.0], instances=2)  # silent by default: callers decide
    assert res.converter_loss > REFERENCE_DISAGREE_PP
    assert res.reference_warning.startswith(f"the converters alone cost {res.converter_loss:.2f} pp")
    with pytest.warns(UserWarning, match="the converters alone cost"):
        evaluate_drift(amodel, data[1], times=[1.0], instances=2, warn=True)
    res = evaluate_drift(amodel, data[1], times=[1.0], instances=2, ideal=False)
    assert res.ideal_accuracy is None and res.converter_loss is None and res.reference_warning is None


# ---- augmentation ----------------------------------------------------------------------------
def test_spec_augment_masks_bands_with_the_coefficient_mean():
    from tinycim.data.speech_commands import spec_augment

    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 1, 49, 10) + torch.arange(10.0) * 100  # coefficient c has mean ~100 c
    out = spec_augment(x, g, time_masks=2, time_width=5, freq_masks=1, freq_width=2)
    assert out.shape == x.shape and not torch.equal(out, x)
    masked = out != x
    fill = x.mean(dim=(0, 1, 2))
    assert torch.allclose(out[masked], fill.expand_as(x)[masked])  # masked entries = their coefficient's mean
    rows = masked.all(dim=3).sum(dim=(1, 2))  # fully masked frames per sample: at most 2 bands x 5
    assert int(rows.max()) <= 10 and int(rows.sum()) > 0
    cols = masked.all(dim=2).sum(dim=(1, 2))
    assert int(cols.max()) <= 2
    # expected masked frames per band: E[w] = 2.5 of 49; two bands -> about 5 / 49 of the frames
    assert float(rows.float().mean()) == pytest.approx(5.0, abs=1.5)
    again = spec_augment(
        x, torch.Generator().manual_seed(0), time_masks=2, time_width=5, freq_masks=1, freq_width=2
    )
    assert torch.equal(again, out)
    with pytest.raises(ValueError, match=r"\[N, 1, T, F\]"):
        spec_augment(torch.zeros(3, 49, 10), g)


def test_fit_applies_the_augmentation_to_every_batch_from_a_seeded_generator(tiny_model, data):
    seen = []

    def record(x, g):
        seen.append((x.shape[0], float(torch.rand(1, generator=g))))
        return x

    cfg = TrainConfig(epochs=2, lr=5e-3, batch_size=32, seed=0)
    fit(tiny_model, data[0], None, cfg, progress=False, augment=record)
    assert [n for n, _ in seen] == [32, 32, 32] * 2
    first = [v for _, v in seen]
    seen.clear()
    fit(tiny_model, data[0], None, cfg, progress=False, augment=record)
    assert [v for _, v in seen] == first  # the same draws from the same seed


def test_mix_augmented_picks_per_sample():
    from tinycim.data.speech_commands import mix_augmented

    clean, noisy = torch.zeros(400, 1, 4, 2), torch.ones(400, 1, 4, 2)
    out = mix_augmented(clean, noisy, torch.Generator().manual_seed(0), fraction=0.5)
    per_sample = out.flatten(1)
    assert torch.all((per_sample == 0).all(1) | (per_sample == 1).all(1))  # whole clips, never mixed
    assert float(per_sample[:, 0].mean()) == pytest.approx(0.5, abs=0.1)  # binomial(400, 0.5): sd 0.025
    with pytest.raises(ValueError, match="same clips"):
        mix_augmented(clean, noisy[:3], torch.Generator())


def _make_speech():
    """tests/data/databuilders.make_speech (tiny .wav class folders), loaded by path."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        "_databuilders", Path(__file__).parents[1] / "data" / "databuilders.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_speech


def test_fp_augmentation_of_speech_commands_is_seeded_and_other_datasets_get_none(tmp_path):
    make_speech = _make_speech()
    from tinycim.workflow import fp_augmentation
    from tinycim.data import load
    from tinycim.data.speech_commands import spec_augment

    folder = make_speech(
        tmp_path / "sc",
        {"yes": ["00000001_nohash_0", "00000001_nohash_1"], "no": ["00000001_nohash_2", "00000001_nohash_3"]},
    )
    train = load("speech_commands", folder, "train", cache_dir=tmp_path / "cache")
    mixed, augment, how = fp_augmentation(
        "speech_commands", folder, 0, {"cache_dir": tmp_path / "cache"}, train
    )
    assert augment is spec_augment and "SpecAugment" in how
    assert mixed.tensors[0].shape == train.tensors[0].shape and torch.equal(
        mixed.tensors[1], train.tensors[1]
    )
    again = fp_augmentation("speech_commands", folder, 0, {"cache_dir": tmp_path / "cache"}, train)[0]
    assert torch.equal(again.tensors[0], mixed.tensors[0])  # seeded
    digits = object()
    assert fp_augmentation("digits", None, 0, {}, digits) == (digits, None, None)


def test_keep_best_skips_the_noise_warm_up(tiny_model, data, monkeypatch):
    """An epoch inside the noise warm-up has not met the full training noise: never the kept one."""
    hwa = dataclasses.replace(HWAConfig.preset("pcm"), noise_warmup=0.5)  # 4 epochs: factors .5, 1, 1, 1
    _scripted_evaluate(monkeypatch, [90.0, 60.0, 70.0, 65.0])
    res = fit(
        prepare(tiny_model, hwa, IDEAL8),
        data[0],
        data[1],
        dataclasses.replace(CONST, epochs=4),
        progress=False,
    )
    assert [row["noise_factor"] for row in res.history] == [0.5, 1.0, 1.0, 1.0]
    assert res.restored_epoch == 3  # the best at full noise (70 %), not epoch 1's 90 %
