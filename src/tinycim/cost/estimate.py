"""`estimate(model, accelerator, ...)`: map a model onto an accelerator and count what it costs.

import tinycim as tc
report = tc.cost.estimate(model, accelerator="aon-cim", act_bits=8)
report.tops_per_watt, report.energy_per_inference_j, report.latency_s, report.area_mm2
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Sequence

import torch
from torch import nn

from tinycim.config import AnalogConfig, MappingConfig, TileConfig, resolve_preset
from tinycim.cost.accelerator import Accelerator
from tinycim.cost.activity import collect
from tinycim.cost.area import area_mm2
from tinycim.cost.events import DigitalWork, digital_cost, layer_cost
from tinycim.cost.placement import accelerator_geometry, columns_per_output, place
from tinycim.cost.presets import get_accelerator
from tinycim.cost.report import CostReport
from tinycim.errors import ConfigError, MappingError

PERIPHERIES = ("uniform", "per-layer")
MAX_ACT_BITS = 16


def analog_config_for(acc: Accelerator, act_bits: int, polarity: str | None = None) -> AnalogConfig:
    """The AnalogConfig a digital model is converted with for `acc`: its preset, the accelerator's
    array size as tile, its weight/device bits (if it sets them) and b-bit DAC/ADC."""
    base = AnalogConfig.preset(acc.analog_preset)
    mapping = base.mapping if polarity is None else dataclasses.replace(base.mapping, polarity=polarity)
    if acc.weight_bits is not None:
        mapping = dataclasses.replace(mapping, weight_bits=acc.weight_bits, device_bits=acc.device_bits)
    return dataclasses.replace(
        base,
        tile=TileConfig(acc.array.rows, acc.array.cols),
        mapping=mapping,
        dac=dataclasses.replace(base.dac, bits=act_bits),
        adc=dataclasses.replace(base.adc, bits=act_bits),
    )


def _is_analog(model: nn.Module) -> bool:
    from tinycim.nn.convert import analog_layers

    return bool(analog_layers(model))


def _input_shape(
    model: nn.Module, input_shape: Sequence[int] | None, inputs: torch.Tensor | None
) -> tuple[int, ...]:
    if inputs is not None:
        return tuple(inputs.shape[1:])
    shape = input_shape or getattr(model, "input_shape", None) or getattr(model, "default_input_shape", None)
    if shape is None:
        raise ConfigError(
            "input_shape is required (no batch dim), e.g. input_shape=(1, 49, 10): the model has "
            "no input_shape attribute and no inputs= batch was given"
        )
    return tuple(int(s) for s in shape)


def estimate(
    model: nn.Module | str,
    accelerator: Accelerator | str = "aon-cim",
    *,
    input_shape: Sequence[int] | None = None,
    act_bits: int = 8,
    inputs: torch.Tensor | None = None,
    polarity: str | None = None,
    periphery: str | None = None,
) -> CostReport:
    """Energy, latency, area and TOPS/W of one inference of `model` on `accelerator`.

    model: a torch model (digital: converted internally with `analog_config_for`), an already
        converted (and possibly programmed/drifted) analog model, or a zoo model name.
    accelerator: an `Accelerator` or a preset name ("aon-cim", "hermes").
    input_shape: one sample's shape, no batch (default: the model's `input_shape`).
    act_bits: DAC/ADC bits of the activations (1..16).
    inputs: a real batch [B, ...]: array energy and wordline pulses from the actual input codes;
        without it the default activity of `tinycim.cost.activity` is assumed.
    polarity: "differential" or "unipolar" for a digital model (default: the accelerator's preset).
    periphery: "uniform" (one converter range for all layers, seed B) or "per-layer"; default:
        uniform when the model's config fixes both DAC and ADC ranges, else per-layer.
    Raises MappingError (naming the layers) when the model does not fit, ConfigError for bad arguments.
    """
    acc = resolve_preset(accelerator, Accelerator, get_accelerator, "accelerator")
    if not isinstance(act_bits, int) or isinstance(act_bits, bool) or not 1 <= act_bits <= MAX_ACT_BITS:
        raise ConfigError(f"act_bits = {act_bits!r} is invalid: allowed range 1..{MAX_ACT_BITS}")
    if periphery is not None and periphery not in PERIPHERIES:
        raise ConfigError(f"periphery = {periphery!r} is invalid: allowed values {', '.join(PERIPHERIES)}")
    if polarity is not None:
        MappingConfig(polarity=polarity)  # validates the name
    name = model if isinstance(model, str) else type(model).__name__
    if isinstance(model, str):
        from tinycim.models import create_model

        model = create_model(model, seed=0)  # the zoo model with seeded weights: the same figures every run
    if not isinstance(model, nn.Module):
        raise ConfigError(f"model must be a torch.nn.Module or a zoo model name, got {type(model).__name__}")
    shape = _input_shape(model, input_shape, inputs)
    if _is_analog(model):
        if polarity is not None:
            raise ConfigError(
                "polarity is set by the converted model's AnalogConfig.mapping; pass a digital "
                "model to choose it here"
            )
        amodel = model
    else:
        from tinycim.nn.convert import convert

        amodel = convert(model, analog_config_for(acc, act_bits, polarity))
    # Shapes alone come from the cheap digital forward (of the converted model's digital copy, whose
    # recurrent and attention layers are rewritten as the analog model's are); measured activity
    # needs the analog one.
    from tinycim.nn.convert import to_digital

    digital_copy = to_digital(amodel)
    shapes_from = amodel if inputs is not None else digital_copy
    report = _estimate_analog(amodel, shapes_from, acc, name, shape, act_bits, inputs, periphery)
    analog_names = {layer.name for layer in report.layers}
    param = next(amodel.parameters(), None)
    example = torch.zeros((1, *shape), dtype=param.dtype if param is not None else None)
    report.digital = [digital_cost(w, acc) for w in digital_work(digital_copy, analog_names, example)]
    return report


def digital_work(model: nn.Module, analog: set[str], example: torch.Tensor) -> list[DigitalWork]:
    """What one inference of `model` (a converted model's digital copy: the same module names)
    computes off the arrays, per sample of `example` [B, ...], in call order:

    * attention (decomposed or torch's ``nn.MultiheadAttention``): QK^T and attention x V, each
      L x S x E MACs per call (L queries, S keys incl. ``bias_k`` / zero-attention, E embed dim);
    * every module outside `analog` that holds parameters itself (a layer left digital): a Linear,
      conv or transposed conv its MACs; a torch LSTM / GRU / RNN its input, recurrent and projection
      MACs per step; a torch MultiheadAttention its four projections; anything else (norms, a
      positional embedding held by a container) its element-wise multiply-adds: one per output
      element for a leaf module, one per parameter for a module with children.

    Modules called several times (per time step, per token) add up. Energies are left at 0 (see
    `digital_cost`).
    """
    from tinycim.nn.recurrent import LinearMultiheadAttention

    batch = max(1, int(example.shape[0]))
    found: dict[tuple[str, str], DigitalWork] = {}

    def add(name: str, kind: str, module: nn.Module, macs: int = 0, elementwise: int = 0) -> None:
        work = found.get((name, kind))
        if work is None:
            found[(name, kind)] = DigitalWork(name, kind, type(module).__name__, macs, elementwise)
        else:
            work.macs += macs
            work.elementwise += elementwise

    def attention(name: str, mod: nn.Module, args: tuple, kwargs: dict, left_digital: bool) -> None:
        q = args[0] if args else kwargs["query"]
        k = args[1] if len(args) > 1 else kwargs.get("key", q)
        batched = q.dim() == 3
        first = bool(getattr(mod, "batch_first", False))

        def seq(t: torch.Tensor) -> int:
            return int(t.shape[1] if batched and first else t.shape[0])

        n = int(q.shape[0] if first else q.shape[1]) if batched else 1
        tgt = seq(q)
        src = seq(k) + (getattr(mod, "bias_k", None) is not None) + bool(getattr(mod, "add_zero_attn", False))
        e = int(mod.embed_dim)  # type: ignore[arg-type]  # an int attribute of attention modules
        per = n * tgt * src * e // batch
        add(name, "attention QK^T", mod, per)
        add(name, "attention x V", mod, per)
        if left_digital:
            kdim, vdim = int(mod.kdim), int(mod.vdim)  # type: ignore[arg-type]  # MultiheadAttention's kdim/vdim are ints once constructed
            add(name, "layer left digital", mod, n * (2 * tgt * e * e + seq(k) * (kdim + vdim) * e) // batch)

    def rnn_macs(mod: nn.RNNBase, x: Any) -> int:
        from torch.nn.utils.rnn import PackedSequence

        if isinstance(x, PackedSequence):
            steps = int(x.data.shape[0])  # time steps summed over the batch
        else:
            steps = int(x.shape[0] * x.shape[1]) if x.dim() == 3 else int(x.shape[0])
        gates = {"LSTM": 4, "GRU": 3}.get(mod.mode, 1) * mod.hidden_size
        out = mod.proj_size or mod.hidden_size
        dirs = 2 if mod.bidirectional else 1
        per_step = 0
        for layer in range(mod.num_layers):
            width = mod.input_size if layer == 0 else out * dirs
            per_step += dirs * (width * gates + out * gates + (mod.hidden_size * mod.proj_size))
        return steps * per_step // batch

    def hook_for(name: str, mod: nn.Module, own: bool):
        def hook(module: nn.Module, args: tuple, kwargs: dict, output: Any) -> None:
            if isinstance(module, (LinearMultiheadAttention, nn.MultiheadAttention)):
                attention(
                    name, module, args, kwargs, own and not isinstance(module, LinearMultiheadAttention)
                )
                return
            if not own:
                return
            out = output[0] if isinstance(output, (tuple, list)) else output
            if isinstance(module, nn.RNNBase):
                add(
                    name, "layer left digital", module, rnn_macs(module, args[0] if args else kwargs["input"])
                )
            elif isinstance(module, nn.Linear):
                add(
                    name,
                    "layer left digital",
                    module,
                    out.numel() // out.shape[-1] * module.in_features // batch,
                )
            elif isinstance(module, nn.modules.conv._ConvTransposeNd):
                x = args[0] if args else kwargs["input"]
                k = math.prod(module.kernel_size)
                add(
                    name,
                    "layer left digital",
                    module,
                    x.numel() * module.out_channels // module.groups * k // batch,
                )
            elif isinstance(module, nn.modules.conv._ConvNd):
                k = math.prod(module.kernel_size)
                add(
                    name,
                    "layer left digital",
                    module,
                    out.numel() * module.in_channels // module.groups * k // batch,
                )
            elif any(True for _ in module.children()):
                add(
                    name,
                    "layer left digital",
                    module,
                    elementwise=sum(p.numel() for p in module.parameters(recurse=False)),
                )
            elif isinstance(out, torch.Tensor):
                add(name, "layer left digital", module, elementwise=out.numel() // batch)

        return hook

    handles = []
    for name, module in model.named_modules():
        if name in analog or any(name.startswith(a + ".") for a in analog):
            continue
        own = any(True for _ in module.parameters(recurse=False))
        if own or isinstance(module, (LinearMultiheadAttention, nn.MultiheadAttention)):
            handles.append(module.register_forward_hook(hook_for(name, module, own), with_kwargs=True))
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(example)
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return list(found.values())


def _estimate_analog(
    amodel: nn.Module,
    shapes_from: nn.Module,
    acc: Accelerator,
    name: str,
    shape: tuple[int, ...],
    bits: int,
    inputs: torch.Tensor | None,
    periphery: str | None,
) -> CostReport:
    from tinycim.nn.convert import analog_layers

    layers = dict(analog_layers(amodel))
    param = next(amodel.parameters(), None)
    example = (
        inputs
        if inputs is not None
        else torch.zeros((1, *shape), dtype=param.dtype if param is not None else None)
    )

    def cols_per_output(layer) -> int:  # from the layer's own config: per-layer overrides may differ
        mapping = layer.analog_config.mapping
        return columns_per_output(acc, mapping.slices, mapping.polarity == "differential")

    # Place first (geometry only): a model that does not fit fails before any conductance is read.
    placement = place(
        [
            (n, accelerator_geometry(n, layer.geometry, acc, cols_per_output(layer)))
            for n, layer in layers.items()
        ],
        acc,
    )
    placement.require_fit()
    acts = collect(shapes_from, layers, example, bits, measure=inputs is not None)
    if not acts:
        raise MappingError(f"{name}: no analog layer ran on an input of shape {shape}; nothing to map")
    cfg = layers[acts[0].name].analog_config
    if periphery is None:
        periphery = "uniform" if cfg.dac.range is not None and cfg.adc.range is not None else "per-layer"
    per_layer = periphery == "per-layer"
    cores = acc.array.cores if acc.execution == "layer-serial" else placement.cores_used
    leakage_w = acc.digital.leakage_power_w + acc.array.core_leakage_w * cores
    costs = [
        layer_cost(
            a, placement.layer_blocks(a.name), acc, bits, per_layer_periphery=per_layer, leakage_w=leakage_w
        )
        for a in acts
    ]
    kinds = {a.differential for a in acts}
    polarity = "mixed" if len(kinds) == 2 else ("differential" if True in kinds else "unipolar")
    weight_cells = sum(b.weight_cells for b in placement.blocks)
    ran = {a.name: a for a in acts}
    return CostReport(
        model=name,
        accelerator=acc.name,
        execution=acc.execution,
        act_bits=bits,
        polarity=polarity,
        periphery=periphery,
        activity="measured" if inputs is not None else "default",
        layers=costs,
        area_breakdown_mm2=area_mm2(acc, placement.blocks, ran, cores, per_layer),
        cores_used=placement.cores_used,
        array_cells=cores * acc.array.rows * acc.array.cols,
        devices=sum(a.devices for a in acts),
        weight_cells=weight_cells,
        extra={
            "layout": dataclasses.asdict(acc.layout),
            "columns": sum(c.columns for c in costs),
            "conversions": sum(c.conversions for c in costs),
        },
    )
