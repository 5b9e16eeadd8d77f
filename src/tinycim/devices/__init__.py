"""Device physics: how a target conductance becomes the conductance an array reads later.

Each device is a frozen dataclass whose fields are the physical constants (with units and the
source they come from); `program` draws what happens once, when the array is written, and
`read` returns the conductances seen `t_inf` seconds later. Randomness is always passed in.

Kinds: "pcm", "rram", "ideal" (physics with cited constants), "empirical" (resampled measured
distributions, `devices.empirical`) and "faulty" (stuck cells, dead columns and drift variation
on top of another kind, `devices.faults`). `from_file` reads a device JSON or fits a measurement
file (`devices.measurements`, `devices.fitting`); see docs/devices.md.
"""

from tinycim.devices.base import ProgrammedCells, check_time
from tinycim.devices.empirical import EmpiricalDevice
from tinycim.devices.faults import FaultyDevice
from tinycim.devices.files import from_file, load_device, save_device
from tinycim.devices.ideal import IdealDevice
from tinycim.devices.pcm import PCMDevice
from tinycim.devices.rram import RRAMDevice

Device = PCMDevice | RRAMDevice | IdealDevice | EmpiricalDevice | FaultyDevice

DEVICE_KINDS: dict[str, type] = {
    "pcm": PCMDevice,
    "rram": RRAMDevice,
    "ideal": IdealDevice,
    "empirical": EmpiricalDevice,
    "faulty": FaultyDevice,
}

__all__ = [
    "DEVICE_KINDS",
    "Device",
    "EmpiricalDevice",
    "FaultyDevice",
    "IdealDevice",
    "PCMDevice",
    "ProgrammedCells",
    "RRAMDevice",
    "check_time",
    "from_file",
    "load_device",
    "save_device",
]
