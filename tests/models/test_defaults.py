"""Zoo defaults of issue 15: the KWS AnalogNet standardizes its MFCC input digitally by default,
the CLI records that default with the run, and a run saved before the default changed reloads as
it was trained."""

from __future__ import annotations

import torch

from tinycim.models import create_model
from tinycim.models._layers import FeatureNorm


def _mfcc_like(n: int = 16, seed: int = 0) -> torch.Tensor:
    x = torch.randn(n, 1, 49, 10, generator=torch.Generator().manual_seed(seed))
    x[..., 0] = x[..., 0] * 50 - 300  # c0: the large energy offset of real MFCCs
    return x


def test_analognet_kws_standardizes_each_coefficient_by_default():
    default = create_model("analognet_kws", seed=0)
    raw = create_model("analognet_kws", input_norm=False, seed=0)
    assert isinstance(default.input_norm, FeatureNorm) and default.input_norm.dim == -1
    assert isinstance(raw.input_norm, torch.nn.Identity)
    n_default = sum(p.numel() for p in default.parameters())
    n_raw = sum(p.numel() for p in raw.parameters())
    assert n_default == n_raw + 2 * 10  # one scale and shift per cepstral coefficient
    out = default.train()(_mfcc_like())
    assert out.shape == (16, 12) and torch.isfinite(out).all()


def test_analognet_kws_without_norm_layers_has_no_input_norm():
    model = create_model("analognet_kws", norm_layer=None, seed=0)
    assert isinstance(model.input_norm, torch.nn.Identity)
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())


def test_dscnn_s_stays_the_mlperf_reference():
    """dscnn_s keeps the reference's raw input (23,180 parameters) unless asked."""
    model = create_model("dscnn_s", seed=0)
    assert isinstance(model.input_norm, torch.nn.Identity)
    assert isinstance(create_model("dscnn_s", input_norm=True, seed=0).input_norm, FeatureNorm)


def test_cli_records_the_input_norm_default():
    """`tinycim train` stores the factory's keyword defaults in the run, so a later change of the
    default does not change how the run is rebuilt."""
    from tinycim.cli.train_cmd import default_options

    assert default_options("analognet_kws") == {"input_norm": True}
    assert default_options("har_cnn")["input_norm"] is True


def test_a_run_saved_before_the_default_reloads_without_input_norm(tmp_path):
    from tinycim.config import AnalogConfig
    from tinycim.train import TrainConfig, load_run, save_run

    old = create_model("analognet_kws", num_classes=12, input_norm=False, seed=0).eval()
    cfg = TrainConfig(epochs=1, seed=0)
    save_run(tmp_path, "analognet_kws", old, None, AnalogConfig.preset("pcm"), cfg, [], {"num_classes": 12})
    loaded = load_run(tmp_path)[0].eval()
    assert isinstance(loaded.input_norm, torch.nn.Identity)
    x = _mfcc_like(4, seed=1)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), old(x))


def test_har_cnn_dropout_trains_only_and_keeps_the_saved_tensors():
    """har_cnn(dropout=p): dropout on the pooled features in training; in eval the model and its
    state_dict keys are those of the model without it (runs saved before load into either)."""
    import pytest

    from tinycim.errors import ConfigError

    plain = create_model("har_cnn", seed=0)
    dropped = create_model("har_cnn", dropout=0.5, seed=0)
    assert list(plain.state_dict()) == list(dropped.state_dict())
    dropped.load_state_dict(plain.state_dict())
    x = torch.randn(8, 9, 128, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        torch.testing.assert_close(dropped.eval()(x), plain.eval()(x))
        torch.manual_seed(0)
        assert not torch.allclose(dropped.train()(x), plain.train()(x))
    with pytest.raises(ConfigError, match="dropout"):
        create_model("har_cnn", dropout=1.0)
