"""A searched resnet-like architecture can be rebuilt from the zoo (so its run directory reloads)."""

from __future__ import annotations

import numpy as np
import torch

from tinycim.models import count_params, create_model
from tinycim.nas.resnet_space import ResNetSpace


def test_zoo_spec_rebuilds_the_same_network() -> None:
    space = ResNetSpace((3, 16, 16), 10)
    rng = np.random.default_rng(3)
    for _ in range(3):
        arch = space.sample(rng)
        name, kwargs = space.zoo_spec(arch)
        rebuilt = create_model(name, **kwargs)
        assert count_params(rebuilt) == count_params(space.build(arch))
        assert rebuilt(torch.randn(2, 3, 16, 16)).shape == (2, 10)
