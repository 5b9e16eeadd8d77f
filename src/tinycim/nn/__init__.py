"""Analog layers and the verbs that convert, program, drift, calibrate, save and load models."""

from tinycim.nn.api import calibrate, drift, load, program, save, unprogram
from tinycim.nn.convert import (
    AnalogModelInfo,
    ConversionReport,
    analog_layers,
    convert,
    fold_batchnorm,
    model_info,
    to_digital,
)
from tinycim.nn.layers import AnalogConv1d, AnalogConv2d, AnalogLayerMixin, AnalogLinear
from tinycim.nn.periphery import Converter, Periphery

__all__ = [
    "AnalogConv1d",
    "AnalogConv2d",
    "AnalogLayerMixin",
    "AnalogLinear",
    "AnalogModelInfo",
    "ConversionReport",
    "Converter",
    "Periphery",
    "analog_layers",
    "calibrate",
    "convert",
    "drift",
    "fold_batchnorm",
    "load",
    "model_info",
    "program",
    "save",
    "to_digital",
    "unprogram",
]
