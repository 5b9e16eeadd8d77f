"""Device physics: how a target conductance becomes the conductance an array reads later.

Each device is a frozen dataclass whose fields are the physical constants (with units and the
source they come from); `program` draws what happens once, when the array is written, and
`read` returns the conductances seen `t_inf` seconds later. Randomness is always passed in.
"""
from tinycim.devices.base import ProgrammedCells, check_time
from tinycim.devices.ideal import IdealDevice
from tinycim.devices.pcm import PCMDevice
from tinycim.devices.rram import RRAMDevice

Device = PCMDevice | RRAMDevice | IdealDevice

DEVICE_KINDS: dict[str, type] = {"pcm": PCMDevice, "rram": RRAMDevice, "ideal": IdealDevice}

__all__ = ["Device", "DEVICE_KINDS", "IdealDevice", "PCMDevice", "ProgrammedCells", "RRAMDevice", "check_time"]
