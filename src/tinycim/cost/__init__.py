"""Energy, latency, area and TOPS/W of analog CiM accelerators, from the same converted model.

    import tinycim as tc
    report = tc.cost.estimate(model, accelerator="aon-cim", act_bits=8)   # hermes, hamq-bitcell, unipolar-ijcnn
    report.tops_per_watt, report.energy_per_inference_j, report.latency_s, report.area_mm2
    report.plot("energy.png")

See docs/cost-model.md for the equations, every constant's source and the calibration.
"""

from tinycim.cost.accelerator import ADCSpec, Accelerator, ArraySpec, DACSpec, DigitalSpec, LayoutSpec
from tinycim.cost.activity import DEFAULT_MEAN_CODE_FRACTION, DEFAULT_NONZERO_FRACTION
from tinycim.cost.estimate import analog_config_for, estimate
from tinycim.cost.events import COMPONENTS, LayerCost
from tinycim.cost.placement import Placement, place
from tinycim.cost.presets import ACCELERATORS, get_accelerator
from tinycim.cost.report import CostReport, format_energy
from tinycim.errors import ConfigError, MappingError

__all__ = [
    "ACCELERATORS",
    "ADCSpec",
    "Accelerator",
    "ArraySpec",
    "COMPONENTS",
    "ConfigError",
    "CostReport",
    "DACSpec",
    "DEFAULT_MEAN_CODE_FRACTION",
    "DEFAULT_NONZERO_FRACTION",
    "DigitalSpec",
    "LayerCost",
    "LayoutSpec",
    "MappingError",
    "Placement",
    "analog_config_for",
    "estimate",
    "format_energy",
    "get_accelerator",
    "place",
]
