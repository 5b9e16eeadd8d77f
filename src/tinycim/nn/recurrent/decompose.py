"""`decompose`: swap torch's recurrent, attention and transposed-convolution modules for their
Linear- (or Conv-) based copies, so `convert` / `prepare` see every weight matrix; `LeafTracer`
keeps those copies as ``torch.fx`` leaves."""

from __future__ import annotations

from dataclasses import dataclass

import torch.fx
from torch import nn

from tinycim.nn.recurrent.attention import LinearMultiheadAttention
from tinycim.nn.recurrent.base import LinearRNNBase
from tinycim.nn.recurrent.cells import LinearGRU, LinearLSTM, LinearRNN
from tinycim.nn.recurrent.conv_transpose import LinearConvTranspose1d, LinearConvTranspose2d

_DIGITAL_RNN = "gate nonlinearities, cell/hidden state updates (ih, hh per step on tiles)"
_DIGITAL_ATTN = "QK^T, softmax and attention x V (activation x activation, not storable in NVM)"
_DIGITAL_CONVT = "zero insertion and padding of the input (the conv runs on tiles over the inserted zeros)"

#: torch module type -> (Linear-based replacement, what stays digital)
DECOMPOSABLE: dict[type[nn.Module], tuple[type[nn.Module], str]] = {
    nn.LSTM: (LinearLSTM, _DIGITAL_RNN),
    nn.GRU: (LinearGRU, _DIGITAL_RNN),
    nn.RNN: (LinearRNN, _DIGITAL_RNN),
    nn.MultiheadAttention: (LinearMultiheadAttention, _DIGITAL_ATTN),
    nn.ConvTranspose1d: (LinearConvTranspose1d, _DIGITAL_CONVT),
    nn.ConvTranspose2d: (LinearConvTranspose2d, _DIGITAL_CONVT),
}


@dataclass(frozen=True)
class DecomposedModule:
    """One module `decompose` replaced (or, with ``replacement == ""``, could not)."""

    name: str  # qualified name in the model ("" for the root)
    original: str  # torch type name, e.g. "LSTM"
    replacement: str  # e.g. "LinearLSTM"; "" when left as it was
    digital: str  # what stays digital, or why it was not replaced


def _replacement(module: nn.Module) -> tuple[type[nn.Module], str] | None:
    for base, entry in DECOMPOSABLE.items():
        if isinstance(module, base):
            return entry if type(module).forward is base.forward else (None, base.__name__)  # type: ignore[return-value]  # (None, name): a subclass with its own forward is not rewritten
    return None


def decompose(model: nn.Module) -> tuple[nn.Module, list[DecomposedModule]]:
    """Replace, in place, every ``nn.LSTM`` / ``nn.GRU`` / ``nn.RNN`` / ``nn.MultiheadAttention``
    (also inside ``nn.TransformerEncoderLayer`` / ``DecoderLayer``) / ``nn.ConvTranspose1d`` / ``2d``
    with its Linear- (or Conv-) based copy; the model computes the same function (digitally exact up
    to float rounding).

    Pass a copy (`convert` and `prepare` deep-copy first). Returns (model, rows): the model (a new
    object only when ``model`` itself is replaced) and one `DecomposedModule` per module found.
    Subclasses that override ``forward`` are left unchanged and reported with ``replacement=""``.
    ``nn.TransformerEncoder`` stacks get ``use_nested_tensor = False``, so their fused fast path (which
    reads the packed ``in_proj_weight``) never bypasses the decomposed attention.
    """
    rows: list[DecomposedModule] = []

    def swap(name: str, module: nn.Module) -> nn.Module | None:
        found = _replacement(module)
        if found is None:
            return None
        cls, digital = found
        if cls is None:
            rows.append(
                DecomposedModule(
                    name, type(module).__name__, "", f"subclass of nn.{digital} overrides forward; left as is"
                )
            )
            return None
        rows.append(DecomposedModule(name, type(module).__name__, cls.__name__, digital))
        return cls.from_torch(module)  # type: ignore[attr-defined]  # every registered rewrite has from_torch

    root = swap("", model)
    if root is not None:
        return root, rows
    for parent_name, parent in list(model.named_modules()):
        for child_name, child in list(parent.named_children()):
            new = swap(f"{parent_name}.{child_name}" if parent_name else child_name, child)
            if new is not None:
                setattr(parent, child_name, new)
    for module in model.modules():
        if isinstance(module, nn.TransformerEncoder):
            module.use_nested_tensor = False
    return model, rows


#: Modules whose forward torch.fx cannot trace (a Python loop over a traced length): leaves for fx.
LEAF_TYPES: tuple[type[nn.Module], ...] = (LinearRNNBase, LinearMultiheadAttention)


class LeafTracer(torch.fx.Tracer):
    """``torch.fx`` tracer that keeps the decomposed recurrent / attention modules as leaves (as fx
    keeps torch's own ``nn.LSTM``), so graph passes such as BatchNorm folding still see a decomposed
    model: ``torch.fx.GraphModule(model, LeafTracer().trace(model))``."""

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return isinstance(m, LEAF_TYPES) or super().is_leaf_module(m, module_qualified_name)
