"""`convert(model, config)`: an analog copy of any torch model, and `to_digital` back.

Linear, Conv1d and Conv2d become analog layers (each with its own config: the model's, with its
`layers` overrides); BatchNorm that directly follows one of them is folded into its weights
(found by tracing with torch.fx); everything else stays digital and is listed in the conversion
report, and weight matrices left digital are warned about, so nothing is hidden.
"""

from __future__ import annotations

import copy
import math
import warnings
from dataclasses import dataclass, field

import torch
from torch import nn

from tinycim.config import AnalogConfig, resolve_preset
from tinycim.errors import ConfigError, MappingError
from tinycim.nn.recurrent import decompose
from tinycim.nn.layers import ANALOG_FOR, DIGITAL_FOR, AnalogLayerMixin
from tinycim.nn.periphery import InstanceContext, Periphery
from tinycim.tiles.geometry import LayerGeometry, layer_geometry


@dataclass
class ConversionReport:
    """What `convert` did: analog layers, folded BatchNorms, layers kept digital by the config's
    `layers` overrides, and leaf modules left digital (with the weights they hold)."""

    analog: list[str] = field(default_factory=list)
    folded_bn: list[tuple[str, str]] = field(default_factory=list)
    digital: list[tuple[str, str]] = field(default_factory=list)  # (name, type)
    kept_digital: list[str] = field(default_factory=list)  # by a "digital" override
    decomposed: list = field(
        default_factory=list
    )  # recurrent / attention / transposed convs (DecomposedModule)
    analog_params: int = 0
    digital_weight_params: dict[str, int] = field(default_factory=dict)  # matrices left digital, by module

    @property
    def analog_share(self) -> float:
        """Share of the weight-matrix parameters that run on analog tiles."""
        total = self.analog_params + sum(self.digital_weight_params.values())
        return self.analog_params / total if total else 1.0

    def summary(self) -> str:
        lines = [f"{len(self.analog)} analog layers, {len(self.folded_bn)} BatchNorms folded"]
        if self.kept_digital:
            lines.append(f"kept digital by config: {', '.join(self.kept_digital)}")
        for row in self.decomposed:
            lines.append(
                f"{row.name or '<root>'} ({row.original}) on tiles as {row.replacement or 'digital'}"
                + (f", digital: {row.digital}" if row.digital else "")
            )
        if self.digital:
            kinds = sorted({t for _, t in self.digital})
            lines.append(f"left digital: {len(self.digital)} modules ({', '.join(kinds)})")
        if self.digital_weight_params:
            lines.append(f"analog share of weight parameters {100 * self.analog_share:.1f} %")
        return "; ".join(lines)


@dataclass
class AnalogModelInfo:
    """Attached to a converted model as `model.tinycim`: the config it was converted with (its
    `layers` overrides say what each layer runs on) and the programmed chips' seed, count and time."""

    config: AnalogConfig
    report: ConversionReport
    context: InstanceContext
    seed: int | None = None
    instances: int = 1
    t_inf: float | None = None


def analog_layers(model: nn.Module) -> list[tuple[str, AnalogLayerMixin]]:
    """(name, layer) of every analog layer, in module order."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, AnalogLayerMixin)]


def model_info(model: nn.Module) -> AnalogModelInfo:
    """`model.tinycim` of a converted model (its config, conversion report and programmed chips);
    ConfigError for a model `convert` did not make."""
    info = getattr(model, "tinycim", None)
    if not isinstance(info, AnalogModelInfo):
        raise ConfigError("this model was not converted with tinycim.convert (no analog layers configured)")
    return info


def _uniform_key(cfg: AnalogConfig) -> tuple:
    return (cfg.dac.bits, cfg.dac.range, cfg.adc.bits, cfg.adc.range, cfg.mapping.weight_max)


def convert(model: nn.Module, config: AnalogConfig | str = "pcm", *, strict: bool = False) -> nn.Module:
    """Return an analog copy of `model` (which is left untouched).

    config: an AnalogConfig or a preset name ("ideal", "pcm", "hermes", "rram", "aon-cim"); its
    `layers` overrides give each layer its own settings or keep it digital.
    strict: raise instead of warning when weight matrices stay digital (modules tinycim cannot
    map, e.g. nn.LSTM) or when a `layers` pattern matches no layer.
    The copy's analog layers are unprogrammed (ideal conductances, configured DAC/ADC) until
    `tc.program` writes them; it pickles and deep-copies as an ordinary module.
    """
    cfg: AnalogConfig = resolve_preset(config, AnalogConfig, AnalogConfig.preset, "config")
    if not isinstance(model, nn.Module):
        raise ConfigError(f"convert expects a torch.nn.Module, got {type(model).__name__}")
    if model_info_or_none(model) is not None:
        raise ConfigError("this model is already converted; convert the digital model (tinycim.to_digital)")
    amodel = copy.deepcopy(model)
    report = ConversionReport()
    if cfg.fold_bn:
        report.folded_bn = fold_batchnorm(amodel)
    # LSTM / GRU / RNN / MultiheadAttention / ConvTranspose become the same function written with
    # Linear / Conv layers, so their matrices run on tiles like any other (DAC/ADC per step or token).
    amodel, report.decomposed = decompose(amodel)
    ctx = InstanceContext()
    holder = None
    if type(amodel) in ANALOG_FOR:  # a bare layer: converted as the root, named ""
        holder = nn.Module()
        holder.add_module("root", amodel)
        candidates = [("", holder, "root", amodel)]
    else:
        candidates = [
            (f"{p}.{c}" if p else c, parent, c, child)
            for p, parent in list(amodel.named_modules())
            for c, child in list(parent.named_children())
            if type(child) in ANALOG_FOR
        ]
    unmatched = cfg.unmatched([name for name, *_ in candidates])
    if unmatched:
        _complain(
            strict,
            f"layers override(s) {unmatched} match no Linear/Conv layer of the model "
            f"(layers: {', '.join(n for n, *_ in candidates[:8])}{', ...' if len(candidates) > 8 else ''})",
        )
    shared: dict[tuple, Periphery] = {}
    uniform: list[AnalogLayerMixin] = []
    for full, parent, child_name, child in candidates:
        layer_cfg = cfg.for_layer(full)
        if layer_cfg is None:
            report.kept_digital.append(full)
            continue
        periphery = None
        if layer_cfg.mapping.weight_range == "uniform":
            key = _uniform_key(layer_cfg)
            if key not in shared:
                shared[key] = Periphery(layer_cfg, shared=True)
            periphery = shared[key]
        layer = from_digital(child, layer_cfg, full, ctx, periphery)
        setattr(parent, child_name, layer)
        report.analog.append(full)
        report.analog_params += int(layer.weight.numel())
        if periphery is not None:
            uniform.append(layer)
    if holder is not None:
        amodel = holder.get_submodule("root")
    for periphery in shared.values():
        users = [layer for layer in uniform if layer.periphery is periphery]
        w_max = users[0].analog_config.mapping.weight_max
        if w_max is None:
            w_max = max(float(layer.weight.detach().abs().max()) for layer in users)
        periphery.set_w_max(w_max)
    for name, module in amodel.named_modules():
        if isinstance(module, AnalogLayerMixin):
            continue
        own = [p for n, p in module.named_parameters(recurse=False) if p.dim() >= 2 and "weight" in n]
        if own:
            report.digital_weight_params[name] = sum(p.numel() for p in own)
        if not list(module.children()) and not isinstance(module, nn.Identity):
            report.digital.append((name, type(module).__name__))
    surprising = {n: c for n, c in report.digital_weight_params.items() if n not in report.kept_digital}
    if surprising:
        names = ", ".join(
            f"{n or '<root>'} ({type(amodel.get_submodule(n)).__name__}, {c} params)"
            for n, c in surprising.items()
        )
        _complain(
            strict,
            f"weights left digital (tinycim maps Linear, Conv1d, Conv2d and the recurrent, "
            f"attention and transposed-conv layers built from them): {names}; "
            f"analog share of weight parameters {100 * report.analog_share:.1f} %",
        )
    amodel.register_forward_pre_hook(ctx.before, with_kwargs=True)
    amodel.register_forward_hook(ctx.after, with_kwargs=True)
    amodel.tinycim = AnalogModelInfo(config=cfg, report=report, context=ctx)  # type: ignore[assignment]  # tinycim's record attached to the user's module
    return amodel


def _complain(strict: bool, message: str) -> None:
    if strict:
        raise ConfigError(message)
    warnings.warn(message, stacklevel=3)


def model_info_or_none(model: nn.Module) -> AnalogModelInfo | None:
    info = getattr(model, "tinycim", None)
    return info if isinstance(info, AnalogModelInfo) else None


def to_digital(model: nn.Module) -> nn.Module:
    """A plain copy of a converted (or prepared) model: analog layers back to torch layers with
    the trained (BN-folded) weights; tinycim's hooks and programmed state dropped. The result
    is an ordinary module of the model's own class (it pickles)."""
    info = model_info_or_none(model)
    out = copy.deepcopy(model)
    for parent_name, parent in list(out.named_modules()):
        for child_name, child in list(parent.named_children()):
            if isinstance(child, AnalogLayerMixin):
                setattr(parent, child_name, to_plain(child))  # type: ignore[arg-type]  # a mixin of a torch layer
    if info is not None:
        ctx = model_info(out).context
        for hooks in (out._forward_hooks, out._forward_pre_hooks):
            for key, hook in list(hooks.items()):
                if getattr(hook, "__self__", None) is ctx:
                    del hooks[key]
        del out.tinycim
    return out


def fold_batchnorm(model: nn.Module) -> list[tuple[str, str]]:
    """Fold every eval-mode-usable BatchNorm that directly follows a conv/linear into its weights.

    Pairs are found by tracing with torch.fx; a model that cannot be traced keeps its
    BatchNorms as digital layers (with a warning). Returns the folded (layer, bn) names.
    """
    try:
        graph = torch.fx.symbolic_trace(model).graph
    except Exception as err:  # fx cannot trace data-dependent control flow
        warnings.warn(
            f"BatchNorm not folded: model could not be traced with torch.fx ({type(err).__name__})",
            stacklevel=3,
        )
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
        layer, bn = modules[str(prev.target)], modules[str(node.target)]
        if type(layer) not in ANALOG_FOR or calls[str(prev.target)] != 1 or calls[str(node.target)] != 1:
            continue
        if bn.running_mean is None or not bn.affine and bn.running_var is None:
            continue
        assert isinstance(bn, nn.modules.batchnorm._BatchNorm)
        _fold_pair(layer, bn)
        _set_submodule(model, str(node.target), nn.Identity())
        pairs.append((str(prev.target), str(node.target)))
    return pairs


@torch.no_grad()
def _fold_pair(layer: nn.Module, bn: nn.modules.batchnorm._BatchNorm) -> None:
    assert bn.running_var is not None and bn.running_mean is not None
    weight = layer.weight
    assert isinstance(weight, torch.Tensor)
    inv_std = torch.rsqrt(bn.running_var + bn.eps)
    gamma = bn.weight if bn.affine else torch.ones_like(inv_std)
    beta = bn.bias if bn.affine else torch.zeros_like(inv_std)
    factor = gamma * inv_std
    weight.mul_(factor.view(-1, *([1] * (weight.dim() - 1))))
    old = layer.bias
    bias = old if isinstance(old, torch.Tensor) else torch.zeros_like(bn.running_mean)
    new_bias = (bias - bn.running_mean) * factor + beta
    if isinstance(old, torch.Tensor):
        old.copy_(new_bias)
    else:
        layer.bias = nn.Parameter(new_bias.detach().clone())


def _set_submodule(root: nn.Module, dotted: str, new: nn.Module) -> None:
    parent_name, _, child = dotted.rpartition(".")
    parent = root.get_submodule(parent_name) if parent_name else root
    setattr(parent, child, new)


# ---- building one analog layer from a torch layer, and back -----------------------------------
def clone_as(module: nn.Module, cls: type, name: str) -> nn.Module:
    """A `cls` layer built like the Linear/Conv1d/Conv2d `module`, with copies of its weight and bias."""
    w = module.weight
    if isinstance(module, nn.Linear):
        new = cls(module.in_features, module.out_features, bias=module.bias is not None)
    else:
        if module.padding_mode != "zeros":
            raise MappingError(
                f"layer {name!r}: padding_mode {module.padding_mode!r} is not supported (only 'zeros')"
            )
        new = cls(
            module.in_channels,
            module.out_channels,
            module.kernel_size,
            stride=module.stride,
            padding=module.padding,
            dilation=module.dilation,
            groups=module.groups,
            bias=module.bias is not None,
        )
    new = new.to(dtype=w.dtype, device=w.device)
    with torch.no_grad():
        new.weight.copy_(w)
        if module.bias is not None:
            new.bias.copy_(module.bias)
    new.weight.requires_grad_(w.requires_grad)
    if new.bias is not None:
        new.bias.requires_grad_(module.bias.requires_grad)
    new.train(module.training)
    return new


def geometry_of(module: nn.Module, name: str, tile_rows: int, tile_cols: int) -> LayerGeometry:
    """How a Linear/Conv layer's weight matrix tiles onto tile_rows x tile_cols arrays."""
    weight = module.weight
    assert isinstance(weight, torch.Tensor)
    if isinstance(module, nn.Linear):
        groups, kernel_numel, in_per_group = 1, 1, module.in_features
    else:
        assert isinstance(module, nn.modules.conv._ConvNd)
        groups, kernel_numel = module.groups, math.prod(module.kernel_size)
        in_per_group = module.in_channels // module.groups
    return layer_geometry(
        name,
        groups=groups,
        in_per_group=in_per_group,
        out_per_group=weight.shape[0] // groups,
        kernel_numel=kernel_numel,
        tile_rows=tile_rows,
        tile_cols=tile_cols,
    )


def from_digital(
    module: nn.Module,
    config: AnalogConfig,
    name: str,
    ctx: InstanceContext,
    periphery: Periphery | None = None,
) -> AnalogLayerMixin:
    """An analog copy of a Linear/Conv1d/Conv2d (its weight and bias copied, not shared);
    `periphery`: a shared (uniform) periphery, else the layer gets its own."""
    new = clone_as(module, ANALOG_FOR[type(module)], name)
    assert isinstance(new, AnalogLayerMixin)
    weight = module.weight
    assert isinstance(weight, torch.Tensor)
    per = Periphery(config) if periphery is None else periphery
    new._init_analog(
        config,
        name,
        ctx,
        geometry_of(module, name, config.tile.rows, config.tile.cols),
        per.to(device=weight.device),
    )
    return new


def to_plain(layer: nn.Module) -> nn.Module:
    """The torch layer with the same hyper-parameters and (copied) weight and bias."""
    base = DIGITAL_FOR[type(layer)]
    return clone_as(layer, base, getattr(layer, "layer_name", ""))
