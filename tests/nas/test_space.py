"""Search spaces: encoding round trip, mutations stay inside, analytic counts match the built models."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.nas.conftest import SPACES
from tinycim.errors import ConfigError
from tinycim.models import count_macs, count_params
from tinycim.nas import MUTATION_KINDS, ResNetSpace, TinyMLSpace, arch_key


@pytest.mark.parametrize("name", sorted(SPACES))
@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), steps=st.integers(0, 6))
def test_encode_decode_round_trip_and_fixed_length(name, seed, steps):
    space = SPACES[name]()
    rng = np.random.default_rng(seed)
    arch = space.sample(rng)
    for _ in range(steps):
        arch = space.mutate(arch, rng)
    vec = space.encode(arch)
    assert vec.shape == (len(space.feature_names),)
    assert space.decode(vec) == arch
    assert arch_key(space.decode(vec.tolist())) == arch_key(arch)


@pytest.mark.parametrize("name", sorted(SPACES))
@pytest.mark.parametrize("kind", [*MUTATION_KINDS, None])
def test_every_mutation_stays_in_the_space(name, kind):
    space = SPACES[name]()
    rng = np.random.default_rng(0)
    arch = space.sample(rng)
    changed = 0
    for _ in range(200):
        child = space.mutate(arch, rng, kind)
        space.validate(child)  # raises if outside
        changed += arch_key(child) != arch_key(arch)
        arch = child if rng.random() < 0.7 else space.sample(rng)
    assert changed > 50  # mutations actually move


@pytest.mark.parametrize("name", sorted(SPACES))
def test_analytic_counts_match_the_built_model(name):
    space = SPACES[name]()
    rng = np.random.default_rng(1)
    for _ in range(8):
        arch = space.mutate(space.sample(rng), rng)
        model = space.build(arch)
        assert space.count_params(arch) == count_params(model)
        if hasattr(space, "count_macs"):
            assert space.count_macs(arch) == count_macs(model, space.input_shape)
        with torch.no_grad():
            assert model.eval()(torch.zeros(2, *space.input_shape)).shape == (2, space.num_classes)


def test_resnet_space_has_real_downsampling_and_rejects_1d():
    space = ResNetSpace((1, 16, 16), 4)
    arch = {
        "stem_channels": 8,
        "stem_kernel": 3,
        "main_blocks": [
            {"num_res_blocks": 1, "branches": 1, "block_type": "basic", "widen_factor": 1.0},
            {"num_res_blocks": 1, "branches": 2, "block_type": "bottleneck", "widen_factor": 2.0},
        ],
    }
    model = space.build(arch)
    assert model.stages(model.stem(torch.zeros(1, 1, 16, 16))).shape == (1, 16, 8, 8)
    with pytest.raises(ConfigError, match="tinyml"):
        ResNetSpace((9, 128), 6)


def test_invalid_archs_and_vectors_are_rejected(tiny_space):
    good = tiny_space.sample(np.random.default_rng(0))
    bad = {"layers": [{"channels": 5, "kernel": 3, "stride": 1}]}
    assert tiny_space.contains(good) and not tiny_space.contains(bad)
    assert not tiny_space.contains({"layers": []})
    with pytest.raises(ConfigError):
        tiny_space.decode([0.0] * len(tiny_space.feature_names))  # depth 0
    with pytest.raises(ConfigError):
        tiny_space.mutate(good, np.random.default_rng(0), "sideways")


def test_tinyml_zoo_spec_rebuilds_the_same_network():
    from tinycim.models import create_model
    from tinycim.models._layers import FeatureNorm

    for shape in ((9, 32), (1, 12, 6)):
        for input_norm in (False, True, "feature"):
            space = TinyMLSpace(shape, 5, widths=(4, 8), max_layers=2, input_norm=input_norm)
            arch = space.sample(np.random.default_rng(3))
            name, kwargs = space.zoo_spec(arch)
            rebuilt = create_model(name, **kwargs)
            assert count_params(rebuilt) == space.count_params(arch) == count_params(space.build(arch))
            assert isinstance(rebuilt.input_norm, torch.nn.Identity) == (not input_norm)
            assert isinstance(rebuilt.input_norm, FeatureNorm) == (input_norm == "feature")
    with pytest.raises(ConfigError, match="input_norm='coefficient'"):
        TinyMLSpace((1, 12, 6), 5, input_norm="coefficient")


def test_unipolar_devices_count_one_per_unipolar_weight():
    space = SPACES["unipolar"]()
    arch = {
        "layers": [
            {"channels": 4, "kernel": 3, "stride": 1, "polarity": "positive"},
            {"channels": 8, "kernel": 3, "stride": 2, "polarity": "differential"},
        ]
    }
    assert space.count_devices(arch) == 9 * 4 * 3 + 2 * 4 * 8 * 3 + 2 * 8 * 6
    assert space.layer_polarities(arch) == {
        "features.0.0": "positive",
        "features.1.0": "differential",
        "head.2": "differential",
    }
