"""ResNetLike (AnalogNAS macro space) and PlainCNN builders."""

from __future__ import annotations

import pytest
import torch
import torch.fx
from torch import nn

from tinycim.errors import ConfigError
from tinycim.models import PlainCNN, ResBlock, ResNetLike, count_macs, count_params, resnet_like


pytestmark = pytest.mark.usefixtures("one_thread_module")


def _run(model: nn.Module, batch: int = 2) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(torch.zeros(batch, *model.input_shape))


def test_resnet_like_branches_bottleneck_and_downsampling():
    m = ResNetLike(
        in_channels=1,
        num_classes=12,
        stem_channels=8,
        stem_kernel=5,
        input_shape=(1, 49, 10),
        main_blocks=[
            {"num_res_blocks": 2, "branches": 3, "block_type": "basic", "widen_factor": 1.0},
            {"num_res_blocks": 1, "branches": 2, "block_type": "bottleneck", "widen_factor": 2.0},
            {"num_res_blocks": 1, "widen_factor": 1.5},
        ],
    )
    assert _run(m).shape == (2, 12)
    assert [len(b.branches) for b in m.stages[0]] == [3, 3]
    assert len(m.stages[1][0].branches[0]) == 3  # bottleneck: 1x1 - 3x3 - 1x1
    assert m.num_features == 24  # 8 -> 8 -> 16 -> 24
    # stride 2 by default from the second main block on: 49x10 -> 25x5 -> 13x3
    feats = m.stages(m.stem(torch.zeros(1, 1, 49, 10)))
    assert feats.shape == (1, 24, 13, 3)
    assert isinstance(m.stages[0][0].shortcut, nn.Identity)  # same shape: identity shortcut
    assert isinstance(m.stages[1][0].shortcut[0], nn.Conv2d)  # shape change: 1x1 conv + BN
    torch.fx.symbolic_trace(m)


def test_resblock_sums_branches_and_shortcut():
    blk = ResBlock(4, 4, branches=2, norm_layer=None, act_layer=nn.Identity).eval()
    x = torch.randn(1, 4, 6, 6, generator=torch.Generator().manual_seed(0))
    expected = x + blk.branches[0](x) + blk.branches[1](x)
    torch.testing.assert_close(blk(x), expected)


def test_resnet_like_explicit_stride_and_function_alias():
    m = resnet_like(main_blocks=[{"num_res_blocks": 1, "stride": 2}, {"num_res_blocks": 1, "stride": 1}])
    assert m.stages(m.stem(torch.zeros(1, 3, 32, 32))).shape == (1, 16, 16, 16)


@pytest.mark.parametrize(
    "bad",
    [
        {"num_res_blocks": 0},
        {"num_res_blocks": 16},
        {"branches": 5},
        {"block_type": "inverted"},
        {"widen_factor": 0},
        {"stride": 3},
        {"depth": 2},
    ],
)
def test_resnet_like_rejects_out_of_space_configs(bad):
    with pytest.raises(ConfigError):
        ResNetLike(main_blocks=[bad])


def test_resnet_like_rejects_empty_and_contradictory_shape():
    with pytest.raises(ConfigError):
        ResNetLike(main_blocks=[])
    with pytest.raises(ConfigError):
        ResNetLike(in_channels=1, input_shape=(3, 32, 32))


def test_plain_cnn_1d_and_2d():
    m1 = PlainCNN(
        (9, 128), 6, [{"channels": 16, "kernel": 5, "stride": 2, "pool": 2}, {"channels": 32, "kernel": 3}]
    )
    assert _run(m1).shape == (2, 6)
    assert isinstance(m1.features[0][0], nn.Conv1d) and isinstance(m1.features[0][1], nn.BatchNorm1d)
    assert isinstance(m1.features[1], nn.MaxPool1d)
    m2 = PlainCNN((3, 16, 16), 4, [{"channels": 8, "kernel": [3, 3]}])  # lists, as from YAML
    assert _run(m2).shape == (2, 4)
    assert isinstance(m2.features[0][0], nn.Conv2d)
    # conv 3*8*9 + BN 16 + linear 8*4+4
    assert count_params(m2) == 216 + 16 + 36
    assert count_macs(m2) == 216 * 16 * 16 + 32
    torch.fx.symbolic_trace(m1)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(input_shape=(9,)),
        dict(layers=[]),
        dict(layers=[{"channels": 4}]),
        dict(layers=[{"channels": 4, "kernel": 3, "dilation": 2}]),
    ],
)
def test_plain_cnn_rejects_bad_configs(kwargs):
    with pytest.raises(ConfigError):
        PlainCNN(**kwargs)


def test_input_norm_standardizes_digitally_and_survives_bn_folding():
    """input_norm: a BatchNorm over the input channels that BN folding leaves digital (no layer
    precedes it), so the first analog layer sees centred signals; off by default (no new state)."""
    import tinycim as tc
    from tinycim.train import HWAConfig, prepare

    plain = PlainCNN((9, 32), 6, [{"channels": 8, "kernel": 5}])
    assert not any(k.startswith("input_norm") for k in plain.state_dict())
    model = PlainCNN((9, 32), 6, [{"channels": 8, "kernel": 5}], input_norm=True)
    assert count_params(model) == count_params(plain) + 2 * 9
    offset = torch.randn(16, 9, 32, generator=torch.Generator().manual_seed(0)) * 0.1 + 5.0
    model.input_norm.momentum = None  # cumulative average: one pass gives the exact statistics
    model.train()(offset)
    model.eval()
    centred = model.input_norm(offset).detach()
    assert float(centred.mean(dim=(0, 2)).abs().max()) < 0.05
    prepared = prepare(model, HWAConfig(), "ideal")
    assert isinstance(prepared.input_norm, torch.nn.BatchNorm1d)
    assert isinstance(tc.convert(model, "ideal").input_norm, torch.nn.BatchNorm1d)
    torch.testing.assert_close(prepared.eval()(offset), model(offset), rtol=1e-4, atol=1e-4)


def test_plain_cnn_feature_input_norm_standardizes_each_coefficient():
    """input_norm="feature" on an MFCC-shaped input: one scale and shift per coefficient (last axis),
    not one for the single channel; unknown kinds are refused by name."""
    from tinycim.models._layers import FeatureNorm

    layers = [{"channels": 4, "kernel": 3}]
    plain = PlainCNN((1, 49, 10), 12, layers)
    model = PlainCNN((1, 49, 10), 12, layers, input_norm="feature")
    assert isinstance(model.input_norm, FeatureNorm)
    assert count_params(model) == count_params(plain) + 2 * 10
    assert count_params(PlainCNN((1, 49, 10), 12, layers, input_norm="channel")) == count_params(plain) + 2
    x = torch.randn(8, 1, 49, 10, generator=torch.Generator().manual_seed(2))
    x[..., 0] = x[..., 0] * 50 - 300
    out = model.train()(x)
    assert out.shape == (8, 12) and torch.isfinite(out).all()
    with pytest.raises(ConfigError, match="input_norm='mfcc'"):
        PlainCNN((1, 49, 10), 12, layers, input_norm="mfcc")


def test_dscnn_input_norm_adds_one_norm_per_coefficient_and_keeps_outputs_finite():
    """dscnn_s(input_norm=True): the NAS's KWS baseline gets the candidates' digital MFCC
    standardization (+2 x 10 parameters); off by default, so the reference keeps 23,180."""
    from tinycim.models import create_model
    from tinycim.models._layers import FeatureNorm

    plain, normed = create_model("dscnn_s"), create_model("dscnn_s", input_norm=True)
    assert count_params(plain) == 23_180 and count_params(normed) == 23_180 + 20
    assert isinstance(normed.input_norm, FeatureNorm) and isinstance(plain.input_norm, torch.nn.Identity)
    x = torch.randn(4, 1, 49, 10, generator=torch.Generator().manual_seed(3)) * 40 - 200
    assert torch.isfinite(normed.train()(x)).all()


def test_feature_norm_standardizes_the_chosen_axis_and_survives_bn_folding():
    """analognet_kws(input_norm=True): each MFCC coefficient (last axis) standardized digitally."""
    from tinycim.models import create_model
    from tinycim.models._layers import FeatureNorm
    from tinycim.train import HWAConfig, prepare

    x = torch.randn(32, 1, 49, 10, generator=torch.Generator().manual_seed(1))
    x[..., 0] = x[..., 0] * 50 - 300  # c0: large offset and spread, as real MFCCs
    norm = FeatureNorm(10, dim=-1)
    norm.norm.momentum = None
    out = norm.train()(x)
    assert out.shape == x.shape
    torch.testing.assert_close(out.mean(dim=(0, 1, 2)), torch.zeros(10), atol=1e-4, rtol=0)
    torch.testing.assert_close(out.std(dim=(0, 1, 2), unbiased=False), torch.ones(10), atol=1e-3, rtol=0)
    model = create_model("analognet_kws", input_norm=True)
    model.input_norm.norm.momentum = None
    model.train()(x)
    model.eval()
    prepared = prepare(model, HWAConfig(), "ideal").eval()
    assert isinstance(prepared.input_norm, FeatureNorm)
    torch.testing.assert_close(prepared(x), model(x), rtol=1e-4, atol=1e-4)
