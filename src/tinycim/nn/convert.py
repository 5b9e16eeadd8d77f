"""`convert(model, config)`: an analog copy of any torch model.

Linear, Conv1d and Conv2d become analog layers; BatchNorm that directly follows one of them
is folded into its weights (found by tracing with torch.fx); everything else stays digital and
is listed in the conversion report, so nothing is hidden.
"""
from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass, field

import torch
from torch import nn

from tinycim.config import AnalogConfig, resolve_preset
from tinycim.errors import ConfigError
from tinycim.nn.layers import ANALOG_FOR, AnalogLayerMixin, InstanceContext, from_digital


@dataclass
class ConversionReport:
    """What `convert` did: analog layers, folded BatchNorms, and leaf modules left digital."""

    analog: list[str] = field(default_factory=list)
    folded_bn: list[tuple[str, str]] = field(default_factory=list)
    digital: list[tuple[str, str]] = field(default_factory=list)  # (name, type)

    def summary(self) -> str:
        lines = [f"{len(self.analog)} analog layers, {len(self.folded_bn)} BatchNorms folded"]
        if self.digital:
            kinds = sorted({t for _, t in self.digital})
            lines.append(f"left digital: {len(self.digital)} modules ({', '.join(kinds)})")
        return "; ".join(lines)


@dataclass
class AnalogModelInfo:
    """Attached to a converted model as `model.tinycim`."""

    config: AnalogConfig
    report: ConversionReport
    context: InstanceContext
    uniform_max: float | None = None
    seed: int | None = None
    instances: int = 1
    t_inf: float | None = None


class _InstanceLoop:
    """Mixed into a converted model's root class: at inference, K programmed instances run one at
    a time through the whole network and their outputs are concatenated ([K*B, ...], instance-major).
    Each instance's activations then stay the size of one batch (cache-resident) instead of K
    batches, so K chips cost K single-chip inferences. With gradients on, every layer handles the K
    instances itself (vectorized), as it does when a layer is called directly."""

    def forward(self, *args, **kwargs):
        info = getattr(self, "tinycim", None)
        if info is None or info.instances == 1 or torch.is_grad_enabled() or info.context.active is not None:
            return super().forward(*args, **kwargs)
        outs = []
        try:
            for k in range(info.instances):
                info.context.active = k
                outs.append(super().forward(*args, **kwargs))
        finally:
            info.context.active = None
        return _concat_instances(outs)


def _concat_instances(outs: list):
    first = outs[0]
    if isinstance(first, torch.Tensor):
        return torch.cat(outs)
    if isinstance(first, (tuple, list)):
        return type(first)(_concat_instances(list(parts)) for parts in zip(*outs))
    if isinstance(first, dict):
        return {key: _concat_instances([o[key] for o in outs]) for key in first}
    raise ConfigError(f"cannot stack per-instance outputs of type {type(first).__name__}")


_LOOP_CLASSES: dict[type, type] = {}


def _with_instance_loop(model: nn.Module) -> None:
    cls = type(model)
    if issubclass(cls, _InstanceLoop):
        return
    if cls not in _LOOP_CLASSES:
        _LOOP_CLASSES[cls] = type(cls.__name__, (_InstanceLoop, cls), {"__module__": cls.__module__,
                                                                        "__qualname__": cls.__qualname__})
    model.__class__ = _LOOP_CLASSES[cls]


def analog_layers(model: nn.Module) -> list[tuple[str, AnalogLayerMixin]]:
    """(name, layer) of every analog layer, in module order."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, AnalogLayerMixin)]


def model_info(model: nn.Module) -> AnalogModelInfo:
    info = getattr(model, "tinycim", None)
    if not isinstance(info, AnalogModelInfo):
        raise ConfigError("this model was not converted with tinycim.convert (no analog layers configured)")
    return info


def convert(model: nn.Module, config: AnalogConfig | str = "pcm") -> nn.Module:
    """Return an analog copy of `model` (which is left untouched).

    config: an AnalogConfig or a preset name ("ideal", "pcm", "hermes", "rram", "aon-cim").
    The copy's analog layers are unprogrammed (ideal conductances, configured DAC/ADC) until
    `tc.program` writes them.
    """
    config = resolve_preset(config, AnalogConfig, AnalogConfig.preset, "config")
    if not isinstance(model, nn.Module):
        raise ConfigError(f"convert expects a torch.nn.Module, got {type(model).__name__}")
    amodel = copy.deepcopy(model)
    report = ConversionReport()
    if config.fold_bn:
        report.folded_bn = fold_batchnorm(amodel)
    ctx = InstanceContext()
    if type(amodel) in ANALOG_FOR:
        amodel = from_digital(amodel, config, "", ctx)  # type: ignore[assignment]
        report.analog.append("")
    else:
        for parent_name, parent in list(amodel.named_modules()):
            for child_name, child in list(parent.named_children()):
                if type(child) in ANALOG_FOR:
                    full = f"{parent_name}.{child_name}" if parent_name else child_name
                    setattr(parent, child_name, from_digital(child, config, full, ctx))
                    report.analog.append(full)
    for name, module in amodel.named_modules():
        if not isinstance(module, AnalogLayerMixin) and not list(module.children()) and not isinstance(module, nn.Identity):
            report.digital.append((name, type(module).__name__))
    uniform_max = None
    if config.mapping.weight_range == "uniform" and config.mapping.weight_max is None:
        uniform_max = max((float(m.weight.detach().abs().max()) for _, m in analog_layers(amodel)), default=None)
    for _, layer in analog_layers(amodel):
        layer.uniform_max = uniform_max
    _with_instance_loop(amodel)
    amodel.register_forward_pre_hook(ctx.before)
    amodel.register_forward_hook(ctx.after)
    amodel.tinycim = AnalogModelInfo(config=config, report=report, context=ctx, uniform_max=uniform_max)  # type: ignore[assignment]
    return amodel


def fold_batchnorm(model: nn.Module) -> list[tuple[str, str]]:
    """Fold every eval-mode-usable BatchNorm that directly follows a conv/linear into its weights.

    Pairs are found by tracing with torch.fx; a model that cannot be traced keeps its
    BatchNorms as digital layers (with a warning). Returns the folded (layer, bn) names.
    """
    try:
        graph = torch.fx.symbolic_trace(model).graph
    except Exception as err:  # fx cannot trace data-dependent control flow
        warnings.warn(f"BatchNorm not folded: model could not be traced with torch.fx ({type(err).__name__})",
                      stacklevel=3)
        return []
    modules = dict(model.named_modules())
    calls: dict[str, int] = {}
    for node in graph.nodes:
        if node.op == "call_module":
            calls[node.target] = calls.get(node.target, 0) + 1
    pairs = []
    for node in graph.nodes:
        if node.op != "call_module" or not isinstance(modules[node.target], nn.modules.batchnorm._BatchNorm):
            continue
        prev = node.args[0]
        if not isinstance(prev, torch.fx.Node) or prev.op != "call_module" or len(prev.users) != 1:
            continue
        layer, bn = modules[prev.target], modules[node.target]
        if type(layer) not in ANALOG_FOR or calls[prev.target] != 1 or calls[node.target] != 1:
            continue
        if bn.running_mean is None or not bn.affine and bn.running_var is None:
            continue
        _fold_pair(layer, bn)
        _set_submodule(model, node.target, nn.Identity())
        pairs.append((prev.target, node.target))
    return pairs


@torch.no_grad()
def _fold_pair(layer: nn.Module, bn: nn.modules.batchnorm._BatchNorm) -> None:
    inv_std = torch.rsqrt(bn.running_var + bn.eps)
    gamma = bn.weight if bn.affine else torch.ones_like(inv_std)
    beta = bn.bias if bn.affine else torch.zeros_like(inv_std)
    factor = gamma * inv_std
    layer.weight.mul_(factor.view(-1, *([1] * (layer.weight.dim() - 1))))
    bias = layer.bias if layer.bias is not None else torch.zeros_like(bn.running_mean)
    new_bias = (bias - bn.running_mean) * factor + beta
    if layer.bias is None:
        layer.bias = nn.Parameter(new_bias.detach().clone())
    else:
        layer.bias.copy_(new_bias)


def _set_submodule(root: nn.Module, dotted: str, new: nn.Module) -> None:
    parent_name, _, child = dotted.rpartition(".")
    parent = root.get_submodule(parent_name) if parent_name else root
    setattr(parent, child, new)
