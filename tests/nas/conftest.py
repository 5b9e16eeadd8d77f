"""Shared fixtures: tiny spaces and a synthetic evaluator, so search tests run in milliseconds."""

from __future__ import annotations

import pytest

from tinycim.nas import Constraints, ResNetSpace, TinyMLSpace, UnipolarSpace


@pytest.fixture
def tiny_space() -> TinyMLSpace:
    return TinyMLSpace((9, 32), 6, widths=(4, 8, 16), kernels=(3, 5), max_layers=3)


@pytest.fixture
def constraints() -> Constraints:
    return Constraints(max_params=1500, max_avm=2.5)


SPACES = {
    "tinyml-1d": lambda: TinyMLSpace((9, 32), 6, widths=(4, 8, 16), kernels=(3, 5), max_layers=3),
    "tinyml-2d": lambda: TinyMLSpace((1, 12, 6), 4, widths=(4, 8), max_layers=3),
    "unipolar": lambda: UnipolarSpace((9, 32), 6, widths=(4, 8), max_layers=3),
    "resnet-like": lambda: ResNetSpace(
        (1, 12, 6),
        4,
        stem_channels=(4, 8),
        max_main_blocks=3,
        max_res_blocks=2,
        max_branches=2,
        widen_factors=(1.0, 1.5, 2.0),
    ),
}
