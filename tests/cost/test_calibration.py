"""The presets reproduce the published efficiency figures from their constants and the networks' shapes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import tinycim.cost as cost
from tinycim.models import create_model

# AON-CiM (Zhou et al., IEEE Micro 2022), TOPS/W at 8/6/4-bit activations: a test oracle, stored nowhere else.
AON_CIM_TOPS_PER_W = {
    "analognet_kws": {8: 8.55, 6: 26.55, 4: 56.67},
    "analognet_vww": {8: 4.34, 6: 12.64, 4: 25.2},
}


@pytest.fixture(scope="module")
def analognets() -> dict[str, nn.Module]:
    torch.manual_seed(0)
    return {name: create_model(name) for name in AON_CIM_TOPS_PER_W}


@pytest.mark.parametrize("name", sorted(AON_CIM_TOPS_PER_W))
@pytest.mark.parametrize("bits", [8, 6, 4])
def test_aon_cim_reproduces_published_tops_per_watt(analognets, name: str, bits: int) -> None:
    report = cost.estimate(analognets[name], "aon-cim", act_bits=bits)
    assert report.tops_per_watt == pytest.approx(AON_CIM_TOPS_PER_W[name][bits], rel=0.05)


def test_calibration_holds_for_another_weight_draw() -> None:
    """The fit must not hinge on one random initialization (cell energy reads the conductances)."""
    torch.manual_seed(123)
    report = cost.estimate(create_model("analognet_kws"), "aon-cim", act_bits=6)
    assert report.tops_per_watt == pytest.approx(26.55, rel=0.05)


def test_hermes_full_core_matches_published_tops_per_watt() -> None:
    torch.manual_seed(0)
    report = cost.estimate(nn.Linear(256, 256), "hermes", input_shape=(256,), act_bits=8)
    assert report.utilization == pytest.approx(1.0)
    assert report.tops_per_watt == pytest.approx(9.76, rel=0.15)
    # 63.1 TOPS over 64 cores: one core's MVM takes ~133 ns.
    assert report.latency_s == pytest.approx(131072 / (63.1e12 / 64), rel=0.05)
