"""Registry behaviour: listing, lookup errors, duplicate names, create_model kwargs."""

from __future__ import annotations

import pytest

from tinycim.errors import ConfigError
from tinycim.models import create_model, get_model_spec, is_model, list_models, register_model


def test_list_models_pattern_and_order():
    assert list_models("resnet*") == ["resnet20", "resnet32", "resnet8", "resnet_like"]
    assert list_models() == sorted(list_models())
    assert list_models("nope*") == []


def test_unknown_model_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown model"):
        create_model("not_a_model")
    assert not is_model("not_a_model")


def test_duplicate_registration_rejected():
    with pytest.raises(ConfigError, match="already registered"):

        @register_model
        def resnet8():  # noqa: F811 - deliberately clashes
            raise AssertionError


def test_spec_and_kwargs_pass_through():
    assert get_model_spec("analognet_kws").target_params == 179_000
    m = create_model("analognet_vww", input_shape=(1, 50, 50))
    assert m.input_shape == (1, 50, 50)
    m = create_model("har_mlp", in_features=100, num_classes=3)
    assert m.input_shape == (100,) and m.num_classes == 3


def test_create_model_seed_draws_the_same_weights_and_leaves_the_global_rng():
    import torch

    from tinycim.models import create_model

    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    a = create_model("digits_cnn", seed=5)
    assert torch.equal(torch.random.get_rng_state(), before)
    b = create_model("digits_cnn", seed=5)
    c = create_model("digits_cnn", seed=6)
    pa, pb, pc = (torch.cat([p.flatten() for p in m.parameters()]) for m in (a, b, c))
    assert torch.equal(pa, pb) and not torch.equal(pa, pc)
