"""Checks run over the WHOLE model registry: every registered model must pass all of them."""

from __future__ import annotations

import pytest
import torch
import torch.fx
from torch import nn

from tinycim.models import count_macs, count_params, create_model, get_model_spec, list_models

ALL = list_models()
CONV_TYPES = (nn.Conv1d, nn.Conv2d)
NORM_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d)


pytestmark = pytest.mark.usefixtures("one_thread_module")


def _build(name: str, **kw) -> nn.Module:
    with torch.random.fork_rng(devices=[]):  # keep the global RNG untouched for other tests
        torch.manual_seed(0)
        return create_model(name, **kw)


def test_registry_is_complete():
    expected = {
        "analognet_kws",
        "analognet_vww",
        "dscnn_s",
        "mobilenet_v1_025",
        "resnet8",
        "resnet20",
        "resnet32",
        "har_cnn",
        "har_mlp",
        "digits_cnn",
        "kws_cnn5",
    }
    assert expected <= set(ALL)


@pytest.mark.parametrize("name", ALL)
def test_forward_shape(name):
    model = _build(name).eval()
    assert model.input_shape == type(model).default_input_shape
    x = torch.randn(2, *model.input_shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        y = model(x)
    assert y.shape == (2, model.num_classes)
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("name", ALL)
def test_param_count_matches_documented_target(name):
    spec = get_model_spec(name)
    n = count_params(_build(name))
    if spec.target_params is not None:
        assert abs(n - spec.target_params) <= spec.param_tol * spec.target_params, (n, spec.target_params)
    assert n > 0


@pytest.mark.parametrize("name", ALL)
def test_macs_positive(name):
    model = _build(name)
    assert count_macs(model, model.input_shape) > 0


@pytest.mark.parametrize("name", ALL)
def test_construction_is_deterministic_under_seed(name):
    a, b = _build(name).state_dict(), _build(name).state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("name", ALL)
def test_fx_trace_matches_eager(name):
    model = _build(name).eval()
    traced = torch.fx.symbolic_trace(model)
    x = torch.randn(2, *model.input_shape, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        torch.testing.assert_close(traced(x), model(x))


@pytest.mark.parametrize("name", ALL)
def test_every_conv_feeds_its_batchnorm(name):
    """The converter folds Conv->BN pairs: in the traced graph each conv's only consumer is a BN."""
    model = _build(name)
    mods = dict(model.named_modules())
    if not any(isinstance(m, NORM_TYPES) for m in mods.values()):
        pytest.skip("model has no BatchNorm")
    if not any(isinstance(m, CONV_TYPES) for m in mods.values()):
        pytest.skip("model has no convolution (its norm is the digital input standardization)")
    graph = torch.fx.symbolic_trace(model).graph
    convs = [n for n in graph.nodes if n.op == "call_module" and isinstance(mods[n.target], CONV_TYPES)]
    assert convs or name == "har_mlp"
    for node in convs:
        users = list(node.users)
        assert len(users) == 1 and users[0].op == "call_module", node.target
        assert isinstance(mods[users[0].target], NORM_TYPES), node.target
        assert mods[node.target].bias is None  # BN follows: the fold supplies the bias


@pytest.mark.parametrize("name", ALL)
def test_num_classes_override(name):
    model = _build(name, num_classes=7).eval()
    with torch.no_grad():
        assert model(torch.zeros(1, *model.input_shape)).shape == (1, 7)


@pytest.mark.parametrize("name", ALL)
def test_layer_type_arguments_drop_in(name):
    """conv_layer / linear_layer / act_layer / norm_layer are honoured everywhere (no hard-coded types)."""

    class MyConv1d(nn.Conv1d):
        pass

    class MyConv2d(nn.Conv2d):
        pass

    class MyLinear(nn.Linear):
        pass

    ref = _build(name)
    is_1d = any(isinstance(m, nn.Conv1d) for m in ref.modules())
    has_conv = any(isinstance(m, CONV_TYPES) for m in ref.modules())
    kw = {"linear_layer": MyLinear, "act_layer": nn.ReLU6}
    if has_conv:
        kw["conv_layer"] = MyConv1d if is_1d else MyConv2d
    model = _build(name, **kw)
    for m in model.modules():
        assert type(m) not in (nn.Conv1d, nn.Conv2d, nn.Linear, nn.ReLU)
    assert sum(isinstance(m, MyLinear) for m in model.modules()) >= 1
    assert count_params(model) == count_params(ref)
    plain = _build(name, norm_layer=None).eval()
    assert not any(isinstance(m, NORM_TYPES) for m in plain.modules())
    with torch.no_grad():
        assert plain(torch.zeros(1, *plain.input_shape)).shape == (1, plain.num_classes)
