"""Parameter and MAC counting for tinycim models.

MACs are the *useful* multiply-accumulates of the matrix layers, measured with forward hooks on one
dummy input (batch 1):

* Conv1d/Conv2d: ``prod(kernel) * C_in / groups * C_out * prod(output spatial dims)``
* Linear: ``in_features * out_features`` (times any leading non-batch dims)

Norms, activations, pooling and residual adds are not counted: on an analog CiM accelerator they run
in the (cheap) digital periphery, while the counted MACs are what the crossbars execute.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence, cast

import torch
from torch import nn

from tinycim.models.probe import probe

__all__ = [
    "count_params",
    "count_macs",
    "layer_stats",
    "LayerStat",
    "summary",
    "model_info",
    "MAC_LAYER_TYPES",
]

#: Module types whose MACs are counted; an analog replacement that subclasses one of these is counted too.
MAC_LAYER_TYPES: tuple[type[nn.Module], ...] = (nn.Conv1d, nn.Conv2d, nn.Linear)


@dataclass(frozen=True)
class LayerStat:
    """One counted layer: qualified name, type name, output shape (no batch), params, MACs."""

    name: str
    kind: str
    out_shape: tuple[int, ...]
    params: int
    macs: int


def count_params(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (shared tensors counted once; buffers such as BN running stats excluded)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _default_shape(model: nn.Module) -> tuple[int, ...]:
    shape = getattr(model, "input_shape", None) or getattr(model, "default_input_shape", None)
    if shape is None:
        raise ValueError(f"{type(model).__name__} has no input_shape/default_input_shape; pass input_shape")
    return tuple(shape)


def _layer_macs(module: nn.Module, out: torch.Tensor) -> int:
    per_sample = out[0].numel() if out.dim() > 0 else 1  # batch is 1; drop it
    if hasattr(module, "kernel_size"):  # convolution
        kernel = cast("tuple[int, ...]", module.kernel_size)
        in_per_group = int(cast(int, module.in_channels)) // int(cast(int, module.groups))
        return math.prod(kernel) * in_per_group * per_sample
    return int(cast(int, module.in_features)) * per_sample  # linear: an in_features-long dot per output


def layer_stats(
    model: nn.Module,
    input_shape: Sequence[int] | None = None,
    layer_types: tuple[type[nn.Module], ...] = MAC_LAYER_TYPES,
) -> list[LayerStat]:
    """Per-layer params and MACs of the ``layer_types`` modules, in execution order.

    ``input_shape`` excludes the batch dimension; default ``model.input_shape`` or
    ``model.default_input_shape``. The model runs once in eval mode under ``torch.no_grad`` on zeros
    (training mode is restored afterwards), so BatchNorm statistics are not touched.
    """
    shape = tuple(input_shape) if input_shape is not None else _default_shape(model)
    names = {m: n for n, m in model.named_modules()}
    rows: list[LayerStat] = []

    def hook(module: nn.Module, _inp, out) -> None:
        rows.append(
            LayerStat(
                names.get(module, "?"),
                type(module).__name__,
                tuple(out.shape[1:]),
                sum(p.numel() for p in module.parameters(recurse=False)),
                _layer_macs(module, out),
            )
        )

    param = next(model.parameters(), None)
    x = torch.zeros(
        (1, *shape),
        device=param.device if param is not None else None,
        dtype=param.dtype if param is not None and param.is_floating_point() else None,
    )
    probe(model, x, {m: hook for m in model.modules() if isinstance(m, layer_types)})
    return rows


def count_macs(model: nn.Module, input_shape: Sequence[int] | None = None) -> int:
    """Total useful MACs of Conv1d/Conv2d/Linear layers for one sample of ``input_shape`` (no batch)."""
    return sum(r.macs for r in layer_stats(model, input_shape))


def summary(model: nn.Module | str, input_shape: Sequence[int] | None = None) -> str:
    """Human-readable per-layer table (name, type, output shape, params, MACs) plus totals.

    ``model`` may be a registered model name."""
    if isinstance(model, str):
        from tinycim.models._registry import create_model

        model = create_model(model)
    rows = layer_stats(model, input_shape)
    lines = [f"{'layer':<32} {'type':<10} {'output':<16} {'params':>9} {'MACs':>12}"]
    lines += [f"{r.name:<32} {r.kind:<10} {str(r.out_shape):<16} {r.params:>9,} {r.macs:>12,}" for r in rows]
    lines.append(f"total params {count_params(model):,} (all layers)  MACs {sum(r.macs for r in rows):,}")
    return "\n".join(lines)


def model_info(name: str, **kwargs) -> dict:
    """``{"name", "params", "macs", "input_shape", "source", "target_params"}`` of a registered model
    built with ``create_model(name, **kwargs)``."""
    from tinycim.models._registry import create_model, get_model_spec

    spec = get_model_spec(name)
    model = create_model(name, **kwargs)
    shape = _default_shape(model)
    return {
        "name": name,
        "params": count_params(model),
        "macs": count_macs(model, shape),
        "input_shape": shape,
        "source": spec.source,
        "target_params": spec.target_params,
    }
