"""tinycim: co-design TinyML networks with analog compute-in-memory accelerators.

import tinycim as tc
cfg = tc.AnalogConfig.preset("pcm")
amodel = tc.convert(model, cfg)            # analog copy; `model` untouched
tc.program(amodel, seed=0, instances=16)   # 16 independent chips
tc.drift(amodel, seconds=86400.0)          # one day later
y = amodel(x)                              # [B, ...] -> [16*B, ...]
"""

from tinycim.config import ADCConfig, AnalogConfig, DACConfig, MappingConfig, TileConfig
from tinycim.devices import IdealDevice, PCMDevice, RRAMDevice
from tinycim.errors import ConfigError, DataError, MappingError, TinyCimError
from tinycim.nn import analog_layers, calibrate, convert, drift, load, program, save, to_digital, unprogram

from tinycim._version import __version__ as __version__  # the one place the version is written

# Subpackages that pull in heavier dependencies load on first use (`tc.cost`, `tc.train`, ...),
# so `import tinycim` stays lean.
_LAZY_SUBPACKAGES = ("cost", "data", "evaluate", "models", "nas", "pipeline", "train")


def __getattr__(name: str):
    if name in _LAZY_SUBPACKAGES:
        import importlib

        return importlib.import_module(f"tinycim.{name}")
    raise AttributeError(f"module 'tinycim' has no attribute {name!r}")


__all__ = [
    "ADCConfig",
    "AnalogConfig",
    "ConfigError",
    "DACConfig",
    "DataError",
    "IdealDevice",
    "MappingConfig",
    "MappingError",
    "PCMDevice",
    "RRAMDevice",
    "TileConfig",
    "TinyCimError",
    "analog_layers",
    "calibrate",
    "convert",
    "drift",
    "load",
    "program",
    "save",
    "to_digital",
    "unprogram",
]
