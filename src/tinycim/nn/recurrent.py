"""Recurrent and attention layers rewritten so that every weight matrix is an ``nn.Linear``.

tinycim has one analog layer type: the analog ``nn.Linear`` / ``nn.Conv*``. ``nn.LSTM``, ``nn.GRU``,
``nn.RNN`` and ``nn.MultiheadAttention`` keep their weights as raw Parameters used inside fused
kernels, so `convert` could not see them. The classes here are pure-PyTorch, digitally exact
re-implementations (same constructor arguments, same forward signature and outputs) whose matrices
live in ordinary ``nn.Linear`` submodules. `decompose` swaps torch's modules for them; `convert` /
`prepare` then turn every ``nn.Linear`` into the analog layer, so DAC/ADC run per time step and per
token, and noise, learned converter ranges and drift apply with no recurrent-specific code, except
one: in hardware-aware training each analog Linear of a recurrent layer draws its weight noise once
per forward of the recurrent layer (one sequence batch) and every time step multiplies by that same
perturbed matrix, as one programmed chip would (`_StepMVM`).

What runs where (per layer and direction ``l{k}[_reverse]``):

* ``LinearLSTM`` / ``LinearGRU`` / ``LinearRNN``: ``ih_l{k}`` = Linear(input, G*H) and
  ``hh_l{k}`` = Linear(H or proj, G*H) with G = 4 / 3 / 1 gates, plus ``hr_l{k}`` = Linear(H, proj,
  bias=False) for an LSTM with ``proj_size``. These MVMs are on tiles. Gate nonlinearities, the
  cell state, ``h = o * tanh(c)``, GRU's reset-gate product and the state updates are digital.
* Two MVMs per step, not one MVM of ``[x_t, h_{t-1}]``: (1) GRU cannot be written as one MVM of the
  concatenation - its candidate is ``tanh(W_in x + b_in + r * (W_hn h + b_hn))``, the reset gate
  multiplies only the recurrent term, so the two products must come out of the array separately;
  (2) the input projection does not depend on the state, so ``ih`` runs once over the whole sequence
  as one batched MVM ([B, T, F] -> [B, T, G*H], DAC/ADC per time step since every row is converted
  on its own) and only ``hh`` runs inside the time loop. That halves the per-step work.
* Speed (benchmarks/recurrent_speed.py): at inference `_StepMVM` resolves the recurrent layer's
  chip weights, converter levels and ranges once per scan and runs its integer path per step
  (bit for bit the layer's forward, tests/nn/test_recurrent_analog.py); the input projection is
  called on [B*T, F] rows (cache-sized micro-batches); tanh is computed as 2 sigmoid(2x) - 1
  (torch's CPU tanh measured ~20x slower than its sigmoid; absolute error ~1e-7). An unpacked
  LSTM without projection runs `_lstm_inference` (~13 kernels per step instead of 21, equal up to
  float rounding; DAC and ADC on every MVM as before). Opt-in (`ADAPT_THREADS = True`): on an
  oversubscribed machine the recurrent layers run without autograd on one thread (`_oversubscribed`).
* ``LinearMultiheadAttention``: ``q_proj``, ``k_proj``, ``v_proj``, ``out_proj`` are Linear (on
  tiles). QK^T, the softmax, and attention x V multiply two activations; neither operand is a
  stored weight, so they cannot be programmed into NVM and stay digital (`decompose` reports it).
* ``LinearConvTranspose1d`` / ``2d``: a transposed convolution is an ordinary ``nn.Conv1d`` /
  ``nn.Conv2d`` (on tiles) over the zero-upsampled, padded input (digital data movement).

Internally every Linear is called on batch-first tensors ([B, T, F]): an analog layer tells a
shared input [B, ...] from per-instance activations [K*B, ...] by the leading dimension, and with K
programmed instances the states grow to [K*B, ...] after the first MVM (initial states and masks are
repeated instance-major to match).
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeGuard

import torch
import torch.fx
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from tinycim.errors import ConfigError
from tinycim.tiles.quant import levels_per_side

if TYPE_CHECKING:
    from tinycim.nn.layers import AnalogLinear

__all__ = [
    "LinearRNNBase",
    "LinearLSTM",
    "LinearGRU",
    "LinearRNN",
    "LinearMultiheadAttention",
    "LinearConvTranspose1d",
    "LinearConvTranspose2d",
    "DecomposedModule",
    "decompose",
    "DECOMPOSABLE",
    "LEAF_TYPES",
    "LeafTracer",
]


def _check_positive_int(value: object, name: str, owner: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{owner}: {name} must be an int >= {minimum}, got {value!r}")
    return value


def _match_batch(t: torch.Tensor, batch: int, dim: int, what: str) -> torch.Tensor:
    """Repeat ``t`` along ``dim`` from its batch B to ``batch`` = K*B (K programmed instances,
    instance-major), as the analog layers expand activations after the first MVM."""
    n = t.shape[dim]
    if n == batch:
        return t
    if n == 0 or batch % n:
        raise ValueError(f"{what}: batch {n} does not divide the activations' batch {batch}")
    reps = [1] * t.dim()
    reps[dim] = batch // n
    return t.repeat(*reps)


# ---------------------------------------------------------------------------------------------
# Recurrent layers
# ---------------------------------------------------------------------------------------------
class LinearRNNBase(nn.Module):
    """Shared code of `LinearLSTM`, `LinearGRU` and `LinearRNN`; not used directly.

    Shapes (as torch): input [T, B, F] (``batch_first=False``), [B, T, F] (``batch_first=True``),
    [T, F] (unbatched) or a PackedSequence; output [.., D*H_out] in the same layout (H_out =
    ``proj_size`` or ``hidden_size``, D = 2 if bidirectional); states [L*D, B, H_out] ([L*D, H_out]
    unbatched), index ``layer * D + direction``.
    """

    _TORCH: type[nn.RNNBase] = nn.RNNBase
    _GATES: int = 1
    mode: str = ""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        owner = type(self).__name__
        self.input_size = _check_positive_int(input_size, "input_size", owner)
        self.hidden_size = _check_positive_int(hidden_size, "hidden_size", owner)
        self.num_layers = _check_positive_int(num_layers, "num_layers", owner)
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout <= 1:
            raise ConfigError(f"{owner}: dropout must be a number in [0, 1], got {dropout!r}")
        if proj_size:
            if self.mode != "LSTM":
                raise ConfigError(f"{owner}: proj_size is only supported for LSTM, got proj_size={proj_size}")
            _check_positive_int(proj_size, "proj_size", owner)
            if proj_size >= hidden_size:
                raise ConfigError(
                    f"{owner}: proj_size must be < hidden_size ({hidden_size}), got {proj_size}"
                )
        if dropout > 0 and num_layers == 1:
            warnings.warn(
                f"{owner}: dropout={dropout} has no effect with num_layers=1 (it acts between "
                "layers), as in torch",
                stacklevel=2,
            )
        self.bias = bool(bias)
        self.batch_first = bool(batch_first)
        self.dropout = float(dropout)
        self.bidirectional = bool(bidirectional)
        self.proj_size = int(proj_size)
        kw = {"device": device, "dtype": dtype}
        out = self.proj_size or self.hidden_size
        gh = self._GATES * self.hidden_size
        for layer in range(self.num_layers):
            for sfx in self._suffixes(layer):
                in_size = self.input_size if layer == 0 else out * self.num_directions
                self.add_module(f"ih{sfx}", nn.Linear(in_size, gh, bias=self.bias, **kw))
                self.add_module(f"hh{sfx}", nn.Linear(out, gh, bias=self.bias, **kw))
                if self.proj_size:
                    self.add_module(f"hr{sfx}", nn.Linear(self.hidden_size, self.proj_size, bias=False, **kw))
        self.reset_parameters()
        self.register_load_state_dict_pre_hook(_rename_torch_keys)

    # ---- structure ----------------------------------------------------------------------------
    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    def _suffixes(self, layer: int) -> list[str]:
        return [f"_l{layer}"] + ([f"_l{layer}_reverse"] if self.bidirectional else [])

    def torch_names(self) -> list[tuple[str, str]]:
        """(torch parameter name, this module's parameter name), in torch's order:
        ``weight_ih_l0`` <-> ``ih_l0.weight`` ... ``weight_hr_l0_reverse`` <-> ``hr_l0_reverse.weight``."""
        pairs = []
        for layer in range(self.num_layers):
            for sfx in self._suffixes(layer):
                pairs += [(f"weight_ih{sfx}", f"ih{sfx}.weight"), (f"weight_hh{sfx}", f"hh{sfx}.weight")]
                if self.bias:
                    pairs += [(f"bias_ih{sfx}", f"ih{sfx}.bias"), (f"bias_hh{sfx}", f"hh{sfx}.bias")]
                if self.proj_size:
                    pairs.append((f"weight_hr{sfx}", f"hr{sfx}.weight"))
        return pairs

    def reset_parameters(self) -> None:
        """torch's initialisation: every weight and bias ~ U(-1/sqrt(H), 1/sqrt(H)) (global RNG, as
        torch's constructors; same distribution as nn.LSTM, not the same draws)."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def flatten_parameters(self) -> None:
        """No-op, for drop-in compatibility with torch's RNN modules (nothing to flatten here)."""

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size:
            s += f", proj_size={self.proj_size}"
        for name, default in (
            ("num_layers", 1),
            ("bias", True),
            ("batch_first", False),
            ("dropout", 0.0),
            ("bidirectional", False),
        ):
            if getattr(self, name) != default:
                s += f", {name}={getattr(self, name)}"
        return s

    def _constructor_kwargs(self) -> dict:
        kw = dict(
            input_size=self.input_size,
            hidden_size=self.hidden_size,
            num_layers=self.num_layers,
            bias=self.bias,
            batch_first=self.batch_first,
            dropout=self.dropout,
            bidirectional=self.bidirectional,
        )
        if self.mode == "LSTM":
            kw["proj_size"] = self.proj_size
        return kw

    @classmethod
    def from_torch(cls, module: nn.RNNBase) -> "LinearRNNBase":
        """An exact copy of a torch ``nn.LSTM`` / ``nn.GRU`` / ``nn.RNN`` (weights copied, not shared;
        ``requires_grad`` and train/eval mode kept)."""
        if not isinstance(module, cls._TORCH):
            raise ConfigError(
                f"{cls.__name__}.from_torch expects an {cls._TORCH.__name__}, got {type(module).__name__}"
            )
        kw: dict[str, object] = dict(
            input_size=module.input_size,
            hidden_size=module.hidden_size,
            num_layers=module.num_layers,
            bias=module.bias,
            batch_first=module.batch_first,
            dropout=module.dropout,
            bidirectional=module.bidirectional,
        )
        if cls.mode == "LSTM":
            kw["proj_size"] = module.proj_size
        elif cls.mode.startswith("RNN"):
            kw["nonlinearity"] = module.nonlinearity
        ref = next(module.parameters())
        with warnings.catch_warnings():  # torch already warned about dropout with one layer
            warnings.simplefilter("ignore")
            new = cls(**kw, device=ref.device, dtype=ref.dtype)  # type: ignore[arg-type]  # torch's RNN constructors take device/dtype through **kwargs
        new._copy_params(module, to_torch=False)
        return new.train(module.training)

    def to_torch(self) -> nn.RNNBase:
        """The equivalent torch module, with copies of this module's weights."""
        kw = self._constructor_kwargs()
        if self.mode.startswith("RNN"):
            kw["nonlinearity"] = self.nonlinearity  # type: ignore[attr-defined]  # RNN only: checked by the caller
        ref = next(self.parameters())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = self._TORCH(**kw, device=ref.device, dtype=ref.dtype)
        self._copy_params(out, to_torch=True)
        return out.train(self.training)

    @torch.no_grad()
    def _copy_params(self, module: nn.Module, to_torch: bool) -> None:
        mine = dict(self.named_parameters())
        for torch_name, my_name in self.torch_names():
            src, dst = getattr(module, torch_name), mine[my_name]
            if to_torch:
                src, dst = dst, src
            dst.copy_(src)
            dst.requires_grad_(src.requires_grad)

    # ---- forward ------------------------------------------------------------------------------
    def _prepare_input(self, input: torch.Tensor | PackedSequence):
        """-> (x [B, T, F] batch-first, lengths [B] or None, batched, packed input or None)."""
        name = type(self).__name__
        if isinstance(input, PackedSequence):
            x, lengths = pad_packed_sequence(input, batch_first=True)  # original (unsorted) batch order
            return x, lengths, True, input
        if not isinstance(input, torch.Tensor):
            raise TypeError(f"{name}: input must be a Tensor or PackedSequence, got {type(input).__name__}")
        if input.dim() not in (2, 3):
            raise ValueError(
                f"{name}: expected input of 2 (unbatched) or 3 dimensions, got shape {tuple(input.shape)}"
            )
        if input.shape[-1] != self.input_size:
            raise ValueError(
                f"{name}: input has {input.shape[-1]} features, expected input_size={self.input_size}"
            )
        batched = input.dim() == 3
        if not batched:
            x = input.unsqueeze(0)
        else:
            x = input if self.batch_first else input.transpose(0, 1)
        return x, None, batched, None

    def _check_state(self, h: torch.Tensor, width: int, batch: int, batched: bool, what: str) -> torch.Tensor:
        expected = (self.num_layers * self.num_directions, batch, width)
        if not batched:
            if h.dim() != 2:
                raise ValueError(
                    f"{type(self).__name__}: for unbatched input {what} must be 2-D, got shape "
                    f"{tuple(h.shape)}"
                )
            h = h.unsqueeze(1)
        if tuple(h.shape) != expected:
            raise ValueError(
                f"{type(self).__name__}: {what} has shape {tuple(h.shape)}, expected "
                f"{expected if batched else (expected[0], expected[2])}"
            )
        return h

    def _finish_output(self, y: torch.Tensor, lengths, batched: bool, packed: PackedSequence | None):
        if packed is not None:
            if y.shape[0] != lengths.shape[0]:  # K programmed instances: K*B sequences, instance-major
                lengths = _match_batch(lengths, y.shape[0], 0, "lengths")
                return pack_padded_sequence(y, lengths, batch_first=True, enforce_sorted=False)
            if packed.sorted_indices is not None:
                y, lengths = (
                    y.index_select(0, packed.sorted_indices),
                    lengths.index_select(0, packed.sorted_indices.to(lengths.device)),
                )
            p = pack_padded_sequence(y, lengths, batch_first=True, enforce_sorted=True)
            return PackedSequence(p.data, p.batch_sizes, packed.sorted_indices, packed.unsorted_indices)
        if not batched:
            return y.squeeze(0)
        return y if self.batch_first else y.transpose(0, 1)

    def _finish_state(self, states: list[torch.Tensor], batched: bool) -> torch.Tensor:
        h = torch.stack(states)  # [L*D, B, H]
        return h if batched else h.squeeze(1)

    def _run(self, x: torch.Tensor, lengths, init: list[torch.Tensor | None]):
        """Run every layer and direction. x: [B, T, F]; init: per state kind, [L*D, B, .] or None.
        Returns (y [B', T, D*H_out], per state kind a list over layer*D + direction of [B', .]).
        With `ADAPT_THREADS`, without autograd on an oversubscribed machine, on one thread."""
        threads = torch.get_num_threads()
        if torch.is_grad_enabled() or not (ADAPT_THREADS and threads > 1 and _oversubscribed()):
            return self._run_layers(x, lengths, init)
        torch.set_num_threads(1)
        try:
            return self._run_layers(x, lengths, init)
        finally:
            torch.set_num_threads(threads)

    def _run_layers(self, x: torch.Tensor, lengths, init: list[torch.Tensor | None]):
        finals: list[list[torch.Tensor]] = [[] for _ in init]
        mask = None
        layer_in = x
        for layer in range(self.num_layers):
            outs = []
            for d, sfx in enumerate(self._suffixes(layer)):
                idx = layer * self.num_directions + d
                if lengths is None:
                    fast = self._inference_scan(layer_in, sfx, init, idx, reverse=d == 1)
                    if fast is not None:
                        outs.append(fast[0])
                        for kind, s in enumerate(fast[1]):
                            finals[kind].append(s)
                        continue
                xp = self._input_projection(getattr(self, f"ih{sfx}"), layer_in)  # [B', T, G*H]
                batch = xp.shape[0]
                if lengths is not None and mask is None:
                    steps = torch.arange(x.shape[1], device=xp.device)
                    mask = _match_batch(
                        (steps[None, :] < lengths.to(xp.device)[:, None]), batch, 0, "lengths"
                    )
                state = []
                for kind, s0 in enumerate(init):
                    width = self._state_widths()[kind]
                    if s0 is None:
                        state.append(xp.new_zeros(batch, width))
                    else:
                        state.append(_match_batch(s0[idx], batch, 0, "initial state"))
                y, state = self._scan(xp, sfx, state, reverse=d == 1, mask=mask)
                outs.append(y)
                for kind, s in enumerate(state):
                    finals[kind].append(s)
            layer_in = outs[0] if len(outs) == 1 else torch.cat(outs, dim=-1)
            if self.dropout and self.training and layer < self.num_layers - 1:
                layer_in = F.dropout(layer_in, self.dropout, training=True)
        return layer_in, finals

    def _state_widths(self) -> list[int]:
        return [self.proj_size or self.hidden_size]

    def _inference_scan(
        self, x: torch.Tensor, sfx: str, init: list[torch.Tensor | None], idx: int, reverse: bool
    ) -> tuple[torch.Tensor, list[torch.Tensor]] | None:
        """A whole direction without autograd by a specialised path, or None (the generic scan)."""
        return None

    @staticmethod
    def _input_projection(ih: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """ih(x) for all time steps in one MVM call: x [B, T, F] -> [B', T, G*H] (B' = K*B with K
        programmed chips run at once). Without autograd the call gets [B*T, F] rows, which an
        analog layer splits into cache-sized micro-batches (every row is converted on its own, so
        the numbers are the same); with autograd it gets [B, T, F], from which an analog layer
        with K chips tells a shared input from per-chip activations by the batch."""
        if torch.is_grad_enabled() or _hooked(ih):  # hooks (cost, activity probes) see [B, T, F]
            return ih(x)
        return ih(x.reshape(-1, x.shape[-1])).view(-1, x.shape[1], ih.out_features)

    def _scan(self, xp, sfx, state, reverse, mask):  # pragma: no cover - abstract
        raise NotImplementedError

    @staticmethod
    def _steps(n: int, reverse: bool) -> range:
        return range(n - 1, -1, -1) if reverse else range(n)


# ---------------------------------------------------------------------------------------------
# The recurrent MVM of one scan
# ---------------------------------------------------------------------------------------------
class _StepMVM:
    """``layer(h)`` (plus the step's input projection ``xp[:, t]`` when given) for every step of one
    scan, with whatever does not change along the sequence resolved once, before the time loop.

    * An analog Linear (its own forward): its weights (`AnalogLayerMixin._mvm_weights`) are resolved
      once per scan: the programmed chips', or the mapped weights with **one draw of the training
      noise for the whole sequence** (a chip's programming noise is one draw; a fresh draw per time
      step, as calling the layer each step did, would be a different chip at every step). Each step
      runs the layer's forward on those weights (`_forward_weights`), so gradients flow to the
      weights from every step.
    * The same at inference (no autograd), one chip, one row tile, calibrated DAC and ADC: the
      layer's integer inference path (`AnalogLayerMixin._fast_block`) written out with the weights,
      drift-compensated column scale, converter levels and ranges fetched once. Per step: DAC codes
      (scale, clamp, round), one MVM, ADC codes, scale and bias, the same operations in the same
      order, so the numbers are bit for bit the layer's.
    * A plain ``nn.Linear``: ``addmm(xp_t + b, h, W^T)`` with the bias added to the whole sequence
      once (digital copy; equal to ``xp_t + layer(h)`` up to float rounding).
    * A layer with forward hooks (the cost model, activity probes) or an overriding subclass: the
      layer's own call at every step, ``xp_t + layer(h)`` (hooks see every step; a training-noise
      draw is then per step).
    """

    def __init__(self, layer: nn.Module, h: torch.Tensor, xp: torch.Tensor | None = None) -> None:
        self.layer = layer
        self.xp = xp
        self.fast: tuple | None = None
        self.addmm: tuple[torch.Tensor, torch.Tensor] | None = None
        self.resolved: tuple[AnalogLinear, tuple] | None = None  # (layer, its weights for this scan)
        if _hooked(layer):  # forward hooks (the cost model counts every call) see every step
            return
        if type(layer) is nn.Linear:
            if xp is not None and layer.bias is not None:
                self.addmm = (xp + layer.bias, layer.weight.t())
        elif _plain_analog(layer):
            weights = layer._mvm_weights()  # one draw of the training noise per sequence
            self.resolved = (layer, weights)
            self.fast = _analog_inference_step(layer, h, weights)

    def __call__(self, h: torch.Tensor, t: int | None = None) -> torch.Tensor:
        if self.addmm is not None:
            xb, w_t = self.addmm
            return torch.addmm(xb[:, t], h, w_t)
        if self.fast is not None:
            in_mul, l_in, w, adc_mul, l_out, scale, bias = self.fast
            codes = (h * in_mul).clamp_(-l_in, l_in).round_()  # DAC
            out = F.linear(codes, w)  # the array
            out.mul_(adc_mul).clamp_(-l_out, l_out).round_()  # ADC
            out = out.mul_(scale) if bias is None else torch.addcmul(bias, out, scale)
            return out if self.xp is None else out.add_(self.xp[:, t])
        if self.resolved is not None:
            layer, weights = self.resolved
            out = layer._forward_weights(h, weights)
        else:
            out = self.layer(h)
        return out if self.xp is None else self.xp[:, t] + out


def _plain_analog(layer: nn.Module) -> TypeGuard[AnalogLinear]:
    """An analog Linear whose forward is the analog layers' own (not overridden by a subclass)."""
    from tinycim.nn.layers import AnalogLinear

    return isinstance(layer, AnalogLinear) and type(layer).forward is AnalogLinear.forward


def _hooked(layer: nn.Module) -> bool:
    """Whether calling `layer` runs forward hooks (its own or global ones), which the shortcuts
    of `_StepMVM` and `LinearRNNBase._input_projection` would skip or show other shapes."""
    from torch.nn.modules import module as torch_module

    return bool(
        layer._forward_hooks
        or layer._forward_pre_hooks
        or torch_module._global_forward_hooks
        or torch_module._global_forward_pre_hooks
    )


def _tanh(x: torch.Tensor) -> torch.Tensor:
    """tanh(x) = 2 sigmoid(2x) - 1 (absolute error ~1e-7): on CPU torch's tanh kernel measured
    ~20x slower than its sigmoid on [256, 118] (one thread), and it ran twice per LSTM step."""
    s = torch.sigmoid(x * 2.0)
    return s * 2.0 - 1.0 if torch.is_grad_enabled() else s.mul_(2.0).sub_(1.0)


def _analog_inference_step(layer: AnalogLinear, h: torch.Tensor, weights: tuple) -> tuple | None:
    """The constants of an analog Linear's integer inference path for inputs like ``h`` with its
    resolved ``weights`` (`AnalogLayerMixin._mvm_weights`), or None when its forward does something
    else for them (see `_StepMVM`). Only without autograd."""
    if torch.is_grad_enabled():
        return None
    w, _, scale, gdc = weights
    active = layer._ctx.active
    if active is not None and w.shape[0] > 1:
        w, gdc = w[active : active + 1], None if gdc is None else gdc[active : active + 1]
    if w.shape[0] != 1:
        return None
    dac, adc = layer.periphery.converters()
    if not (dac.active and dac.calibrated and adc.active and adc.calibrated):
        return None
    if not layer._use_fast_path(h, w):
        return None
    assert scale is not None and dac.bits is not None and adc.bits is not None
    col = scale if gdc is None else scale * gdc[0]
    l_in, l_out = levels_per_side(dac.bits), levels_per_side(adc.bits)
    r_in = dac.full_scale()
    full = adc.full_scale() * l_in
    factor = (r_in / l_in) * (full / l_out)
    return (l_in / r_in, l_in, w[0, 0], l_out / full, l_out, col * factor, layer.bias)


class LinearLSTM(LinearRNNBase):
    """Drop-in ``nn.LSTM`` whose matrices are ``nn.Linear`` (``ih_l*``, ``hh_l*``, ``hr_l*``).

    Per step (torch's gate order i, f, g, o; xp = ih(x) precomputed for the whole sequence):

        gates = xp_t + hh(h_{t-1})                      [B, 4H]   (MVM on tiles)
        c_t   = sigmoid(f) * c_{t-1} + sigmoid(i) * tanh(g)       (digital)
        h_t   = sigmoid(o) * tanh(c_t), then h_t = hr(h_t) with proj_size (MVM on tiles)

    forward(input, (h_0, c_0)=None) -> (output, (h_n, c_n)); h: [L*D, B, proj_size or H],
    c: [L*D, B, H]. Hello Edge's LSTM also has peephole connections; neither torch nor this has them.
    """

    _TORCH = nn.LSTM
    _GATES = 4
    mode = "LSTM"

    def _state_widths(self) -> list[int]:
        return [self.proj_size or self.hidden_size, self.hidden_size]

    def forward(self, input, hx: tuple[torch.Tensor, torch.Tensor] | None = None):
        x, lengths, batched, packed = self._prepare_input(input)
        init: list[torch.Tensor | None] = [None, None]
        if hx is not None:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise ValueError("LinearLSTM: hx must be a tuple (h_0, c_0)")
            init = [
                self._check_state(hx[0], self._state_widths()[0], x.shape[0], batched, "h_0"),
                self._check_state(hx[1], self.hidden_size, x.shape[0], batched, "c_0"),
            ]
        y, (hs, cs) = self._run(x, lengths, init)
        return (
            self._finish_output(y, lengths, batched, packed),
            (self._finish_state(hs, batched), self._finish_state(cs, batched)),
        )

    def _scan(self, xp, sfx, state, reverse, mask):
        h, c = state
        hh = _StepMVM(getattr(self, f"hh{sfx}"), h, xp)  # xp_t + hh(h)
        hr = _StepMVM(getattr(self, f"hr{sfx}"), c) if self.proj_size else None
        ys: list[torch.Tensor] = [xp] * xp.shape[1]
        H = self.hidden_size
        for t in self._steps(xp.shape[1], reverse):
            gates = hh(h, t)  # [B', 4H], gate order i, f, g, o
            s = torch.sigmoid(gates)  # one kernel for i, f, o (the g quarter is unused)
            c_new = torch.addcmul(s[:, H : 2 * H] * c, s[:, :H], _tanh(gates[:, 2 * H : 3 * H]))
            h_new = s[:, 3 * H :] * _tanh(c_new)
            if hr is not None:
                h_new = hr(h_new)
            if mask is None:
                h, c = h_new, c_new
                ys[t] = h
            else:  # packed: a sequence's state stops changing after its last step; padded outputs are 0
                m = mask[:, t, None]
                h, c = torch.where(m, h_new, h), torch.where(m, c_new, c)
                ys[t] = h_new * m
        return torch.stack(ys, dim=1), [h, c]

    def _inference_scan(
        self, x: torch.Tensor, sfx: str, init: list[torch.Tensor | None], idx: int, reverse: bool
    ) -> tuple[torch.Tensor, list[torch.Tensor]] | None:
        """One direction of an LSTM without autograd, unpacked, without projection, when ``ih`` and
        ``hh`` are plain ``nn.Linear`` or analog Linears on their integer path (one chip, one row
        tile, calibrated converters); else None. `_lstm_inference` has the arithmetic."""
        if torch.is_grad_enabled() or self.proj_size or self.training:  # training: the generic scan
            return None
        ih, hh = getattr(self, f"ih{sfx}"), getattr(self, f"hh{sfx}")
        batch, steps = x.shape[0], x.shape[1]
        rows = x.transpose(0, 1).reshape(steps * batch, x.shape[2])  # time-major rows
        m_ih = _inference_matrix(ih, rows)
        m_hh = _inference_matrix(hh, x.new_zeros(batch, self.hidden_size))
        if m_ih is None or m_hh is None:
            return None
        h0, c0 = (None if s0 is None else _match_batch(s0[idx], batch, 0, "initial state") for s0 in init)
        return _lstm_inference(rows, batch, steps, self.hidden_size, m_ih, m_hh, h0, c0, reverse)


# Elements of the input projection converted per block (~4 MB of float32: the converter passes
# run from cache), as the analog layers' own inference path does.
_BLOCK_ELEMENTS = 1 << 20


#: Opt-in: run recurrent layers without autograd on one thread when the machine is oversubscribed
#: (`_oversubscribed`). Off by default: it changes torch's process-wide thread count for the scan,
#: and how fast a model runs should not depend on what else the machine is doing.
ADAPT_THREADS = False


def _oversubscribed() -> bool:
    """Whether the machine runs more threads than it has cores (1-minute load average >= cores + 1:
    a scan's own threads alone, on an otherwise idle machine, bring the load up to the cores).

    A scan is ~10 short kernels per time step; on several threads each ends at a barrier that
    waits for a thread the OS may have descheduled. On the shared 2-core machine at load 8 the
    analog LSTM scan took 213 ms on 2 threads and 56 ms on 1 (torch's fused LSTM: 90 and 36 ms),
    so under oversubscription the scan uses one thread, as OpenMP's dynamic mode would for a
    whole program. The numbers are the same either way; `ADAPT_THREADS = True` turns it on.
    """
    try:
        return os.getloadavg()[0] >= (os.cpu_count() or 1) + 1
    except OSError:  # no load average on this platform
        return False


def _inference_matrix(layer: nn.Module, x: torch.Tensor) -> tuple | None:
    """How an inference scan multiplies by ``layer`` for inputs like ``x``: ("digital", W, b) for
    a plain ``nn.Linear``, ("analog", constants of `_analog_inference_step`) for an analog Linear
    on its integer path, None otherwise (forward hooks, several chips, uncalibrated converters ...)."""
    if _hooked(layer):
        return None
    if type(layer) is nn.Linear:
        return ("digital", layer.weight, layer.bias)
    if _plain_analog(layer):
        fast = _analog_inference_step(layer, x, layer._mvm_weights())
        return None if fast is None else ("analog", fast)
    return None


def _lstm_inference(
    rows: torch.Tensor,
    batch: int,
    steps: int,
    hidden: int,
    m_ih: tuple,
    m_hh: tuple,
    h0: torch.Tensor | None,
    c0: torch.Tensor | None,
    reverse: bool,
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """An LSTM direction at inference with as few passes and kernel calls per step as its math allows.

    rows: the input, time-major [T*B, F]; m_ih, m_hh: `_inference_matrix` of ``ih`` and ``hh``.
    Returns (y [B, T, H], [h_T, c_T]). What the hardware does is unchanged: every MVM input goes
    through the DAC (scale, clamp, round to codes), every MVM output through the ADC (clamp, round
    to codes) before its digital scale and bias. Rearranged, exactly or up to float rounding:

    * the input projection of all steps is one pass of MVMs (blocks of rows that fit the cache),
      with both layers' biases added there once, time-major ([T, B, 4H]: step t is contiguous);
    * the ADC gain (levels / full scale) multiplies the array's weights once per scan instead of
      every output (``(c @ w^T) * a`` as ``c @ (a w)^T``: equal up to float rounding, which can move
      an output code by one at a rounding tie);
    * tanh(x) = 2 sigmoid(2x) - 1, with the factors 2 folded into the g gate's scale, bias and input
      projection (exact), so one sigmoid covers all four gates; the cell state is kept doubled
      (c2 = 2c, exact) so that tanh(c) = 2 sigmoid(c2) - 1 needs no extra pass;
    * the hidden state is kept negated, -h = o - 2 o sigmoid(c2) (one fused multiply-add, written
      straight into the output), with the DAC's gain and a digital ``hh``'s weights negated (exact:
      the DAC rounds and clamps symmetrically); the output is negated back once at the end;
    * the DAC's clamp is skipped when its range is >= 1 (|h| <= 1 cannot clip);
    * the transposed weights are made contiguous once (MKL's GEMM with K = 10 input features ran
      ~1.8x faster on them than on the transposed view).
    """
    dtype, device = rows.dtype, rows.device
    g4 = 4 * hidden
    g2 = torch.ones(g4, dtype=dtype, device=device)
    g2[2 * hidden : 3 * hidden] = 2.0  # tanh(g) = 2 sigmoid(2g) - 1
    biases = [m[2] if m[0] == "digital" else m[1][6] for m in (m_ih, m_hh)]
    present = [b for b in biases if b is not None]
    bias = None if not present else (present[0] if len(present) == 1 else present[0] + present[1]) * g2
    # input projection (+ both biases) of every step: p[t] = (ih(x_t) + b_hh) * g2
    p = rows.new_empty(steps, batch, g4)
    p_rows = p.view(steps * batch, g4)
    if m_ih[0] == "digital":
        w_t = (m_ih[1] * g2[:, None]).t().contiguous()
        if bias is None:
            torch.mm(rows, w_t, out=p_rows)
        else:
            torch.addmm(bias, rows, w_t, out=p_rows)
    else:
        in_mul, l_in, w, adc_mul, l_out, scale, _ = m_ih[1]
        w_t = (w * adc_mul).t().contiguous()
        scale = scale * g2
        block = max(1, _BLOCK_ELEMENTS // g4)
        for r0 in range(0, steps * batch, block):
            codes = (rows[r0 : r0 + block] * in_mul).clamp_(-l_in, l_in).round_()  # DAC
            out = p_rows[r0 : r0 + block]
            torch.mm(codes, w_t, out=out)  # the array, ADC gain folded in
            out.clamp_(-l_out, l_out).round_()  # ADC
            if bias is None:
                out.mul_(scale)
            else:
                torch.addcmul(bias, out, scale, out=out)
    # the recurrence
    y = rows.new_empty(batch, steps, hidden)
    gates = rows.new_empty(batch, g4)
    sig_c = rows.new_empty(batch, hidden)
    i, f, g, o = gates.split(hidden, dim=1)
    neg_h = rows.new_zeros(batch, hidden) if h0 is None else -h0
    c2 = rows.new_zeros(batch, hidden) if c0 is None else c0 * 2.0
    analog = m_hh[0] == "analog"
    if analog:
        in_mul, l_in, w, adc_mul, l_out, scale, _ = m_hh[1]
        neg_in = -in_mul
        clip_in = float(in_mul) > l_in  # DAC range below 1: |h| <= 1 can clip
        w_t = (w * adc_mul).t().contiguous()
        scale = scale * g2
        codes = rows.new_empty(batch, hidden)
    else:
        w_t = (m_hh[1] * -g2[:, None]).t().contiguous()  # acts on -h
    for t in range(steps - 1, -1, -1) if reverse else range(steps):
        if analog:
            torch.mul(neg_h, neg_in, out=codes)  # DAC: h * levels / range
            if clip_in:
                codes.clamp_(-l_in, l_in)
            codes.round_()
            torch.mm(codes, w_t, out=gates)  # the array, ADC gain folded in
            gates.clamp_(-l_out, l_out).round_()  # ADC
            torch.addcmul(p[t], gates, scale, out=gates)
        else:
            torch.addmm(p[t], neg_h, w_t, out=gates)
        gates.sigmoid_()  # i, f, sigmoid(2g), o
        c2.mul_(f).addcmul_(i, g, value=4.0).sub_(i, alpha=2.0)  # 2 (f c + i tanh(g))
        torch.sigmoid(c2, out=sig_c)
        neg_h = torch.addcmul(o, o, sig_c, value=-2.0, out=y[:, t])  # -o tanh(c)
    y.neg_()  # neg_h, a view of y, is now h_T
    return y, [neg_h.clone(), c2.mul_(0.5)]


class LinearGRU(LinearRNNBase):
    """Drop-in ``nn.GRU`` whose matrices are ``nn.Linear`` (``ih_l*``, ``hh_l*``).

    Per step (torch's gate order r, z, n):

        r = sigmoid(xp_r + hp_r), z = sigmoid(xp_z + hp_z)    with xp = ih(x_t), hp = hh(h_{t-1})
        n = tanh(xp_n + r * hp_n)                             (r multiplies the recurrent term only)
        h_t = (1 - z) * n + z * h_{t-1}

    forward(input, h_0=None) -> (output, h_n), h: [L*D, B, H].
    """

    _TORCH = nn.GRU
    _GATES = 3
    mode = "GRU"

    def forward(self, input, hx: torch.Tensor | None = None):
        x, lengths, batched, packed = self._prepare_input(input)
        init = [None if hx is None else self._check_state(hx, self.hidden_size, x.shape[0], batched, "h_0")]
        y, (hs,) = self._run(x, lengths, init)
        return self._finish_output(y, lengths, batched, packed), self._finish_state(hs, batched)

    def _scan(self, xp, sfx, state, reverse, mask):
        (h,) = state
        hh = _StepMVM(getattr(self, f"hh{sfx}"), h)  # GRU: r multiplies hh's output, bias included
        ys: list[torch.Tensor] = [xp] * xp.shape[1]
        H = self.hidden_size
        for t in self._steps(xp.shape[1], reverse):
            x_t, hp = xp[:, t], hh(h)  # [B', 3H] each, gate order r, z, n
            rz = torch.sigmoid(x_t[:, : 2 * H] + hp[:, : 2 * H])
            n = _tanh(torch.addcmul(x_t[:, 2 * H :], rz[:, :H], hp[:, 2 * H :]))
            h_new = torch.addcmul(n, rz[:, H:], h - n)  # (1 - z) * n + z * h, as torch computes it
            if mask is None:
                h = h_new
                ys[t] = h
            else:
                m = mask[:, t, None]
                h = torch.where(m, h_new, h)
                ys[t] = h_new * m
        return torch.stack(ys, dim=1), [h]


class LinearRNN(LinearRNNBase):
    """Drop-in ``nn.RNN`` (Elman): h_t = act(ih(x_t) + hh(h_{t-1})), act = tanh or relu.

    forward(input, h_0=None) -> (output, h_n), h: [L*D, B, H].
    """

    _TORCH = nn.RNN
    _GATES = 1
    mode = "RNN"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device=None,
        dtype=None,
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ConfigError(f"LinearRNN: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            device=device,
            dtype=dtype,
        )

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s if self.nonlinearity == "tanh" else s + ", nonlinearity='relu'"

    def forward(self, input, hx: torch.Tensor | None = None):
        x, lengths, batched, packed = self._prepare_input(input)
        init = [None if hx is None else self._check_state(hx, self.hidden_size, x.shape[0], batched, "h_0")]
        y, (hs,) = self._run(x, lengths, init)
        return self._finish_output(y, lengths, batched, packed), self._finish_state(hs, batched)

    def _scan(self, xp, sfx, state, reverse, mask):
        act = _tanh if self.nonlinearity == "tanh" else torch.relu
        (h,) = state
        hh = _StepMVM(getattr(self, f"hh{sfx}"), h, xp)  # xp_t + hh(h)
        ys: list[torch.Tensor] = [xp] * xp.shape[1]
        for t in self._steps(xp.shape[1], reverse):
            h_new = act(hh(h, t))
            if mask is None:
                h = h_new
                ys[t] = h
            else:
                m = mask[:, t, None]
                h = torch.where(m, h_new, h)
                ys[t] = h_new * m
        return torch.stack(ys, dim=1), [h]


def _rename_torch_keys(module: LinearRNNBase, state_dict: dict, prefix: str, *_args) -> None:
    """load_state_dict pre-hook: a torch LSTM/GRU/RNN state_dict (``weight_ih_l0``, ...) loads too."""
    for torch_name, my_name in module.torch_names():
        key = prefix + torch_name
        if key in state_dict and prefix + my_name not in state_dict:
            state_dict[prefix + my_name] = state_dict.pop(key)


# ---------------------------------------------------------------------------------------------
# Attention
# ---------------------------------------------------------------------------------------------
def _float_mask(mask: torch.Tensor | None, name: str, dtype: torch.dtype) -> torch.Tensor | None:
    """torch's convention: a bool mask is True where attention is NOT allowed (-> -inf); a float
    mask is added to the scores as is."""
    if mask is None:
        return None
    if mask.dtype == torch.bool:
        return torch.zeros_like(mask, dtype=dtype).masked_fill_(mask, float("-inf"))
    if not torch.is_floating_point(mask):
        raise ValueError(
            f"LinearMultiheadAttention: only bool and floating types of {name} are supported, "
            f"got {mask.dtype}"
        )
    return mask.to(dtype)


class LinearMultiheadAttention(nn.Module):
    """Drop-in ``nn.MultiheadAttention`` with its projections as ``nn.Linear`` submodules.

    ``q_proj`` [E -> E], ``k_proj`` [kdim -> E], ``v_proj`` [vdim -> E], ``out_proj`` [E -> E] run on
    tiles once converted. Digital (activation x activation, nothing to store in NVM): scores =
    (q / sqrt(head_dim)) @ k^T + masks, softmax, dropout, and weights @ v.

    forward(query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
    average_attn_weights=True, is_causal=False) -> (attn_output, attn_weights or None), shapes as
    torch: query [L, B, E] ([B, L, E] batch_first, [L, E] unbatched), key/value [S, B, kdim/vdim];
    weights [B, L, S] averaged over heads, else [B, num_heads, L, S]. ``is_causal`` is only a hint
    that ``attn_mask`` is causal (as in torch, which then requires ``attn_mask``).
    """

    # torch's TransformerEncoder(Layer) fast paths read these and fall back to calling forward
    # when they are None / False, so a decomposed attention is never bypassed by a fused kernel.
    in_proj_weight = None
    in_proj_bias = None
    _qkv_same_embed_dim = False

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        add_bias_kv: bool = False,
        add_zero_attn: bool = False,
        kdim: int | None = None,
        vdim: int | None = None,
        batch_first: bool = False,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        owner = "LinearMultiheadAttention"
        self.embed_dim = _check_positive_int(embed_dim, "embed_dim", owner)
        self.num_heads = _check_positive_int(num_heads, "num_heads", owner)
        if embed_dim % num_heads:
            raise ConfigError(
                f"{owner}: embed_dim ({embed_dim}) must be divisible by num_heads ({num_heads})"
            )
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout <= 1:
            raise ConfigError(f"{owner}: dropout must be a number in [0, 1], got {dropout!r}")
        self.kdim = _check_positive_int(kdim, "kdim", owner) if kdim is not None else embed_dim
        self.vdim = _check_positive_int(vdim, "vdim", owner) if vdim is not None else embed_dim
        self.head_dim = embed_dim // num_heads
        self.dropout = float(dropout)
        self.batch_first = bool(batch_first)
        self.add_zero_attn = bool(add_zero_attn)
        kw = {"device": device, "dtype": dtype}
        self.q_proj = nn.Linear(embed_dim, embed_dim, bias=bias, **kw)
        self.k_proj = nn.Linear(self.kdim, embed_dim, bias=bias, **kw)
        self.v_proj = nn.Linear(self.vdim, embed_dim, bias=bias, **kw)
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias=bias, **kw)
        self.bias_k: nn.Parameter | None = None
        self.bias_v: nn.Parameter | None = None
        if add_bias_kv:
            self.bias_k = nn.Parameter(torch.empty(1, 1, embed_dim, **kw))
            self.bias_v = nn.Parameter(torch.empty(1, 1, embed_dim, **kw))
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        """torch's initialisation: Xavier-uniform projections, zero biases, Xavier-normal bias_k/v."""
        for lin in (self.q_proj, self.k_proj, self.v_proj):
            nn.init.xavier_uniform_(lin.weight)
            if lin.bias is not None:
                nn.init.zeros_(lin.bias)
        if self.out_proj.bias is not None:
            nn.init.zeros_(self.out_proj.bias)
        if self.bias_k is not None and self.bias_v is not None:
            nn.init.xavier_normal_(self.bias_k)
            nn.init.xavier_normal_(self.bias_v)

    @classmethod
    def from_torch(cls, module: nn.MultiheadAttention) -> "LinearMultiheadAttention":
        """An exact copy of a torch ``nn.MultiheadAttention`` (packed or separate projections)."""
        if not isinstance(module, nn.MultiheadAttention):
            raise ConfigError(
                f"LinearMultiheadAttention.from_torch expects an nn.MultiheadAttention, "
                f"got {type(module).__name__}"
            )
        w = module.out_proj.weight
        new = cls(
            module.embed_dim,
            module.num_heads,
            dropout=module.dropout,
            bias=module.in_proj_bias is not None,
            add_bias_kv=module.bias_k is not None,
            add_zero_attn=module.add_zero_attn,
            kdim=module.kdim,
            vdim=module.vdim,
            batch_first=module.batch_first,
            device=w.device,
            dtype=w.dtype,
        )
        if module._qkv_same_embed_dim:
            weights = module.in_proj_weight.chunk(3)
        else:
            weights = (module.q_proj_weight, module.k_proj_weight, module.v_proj_weight)
        biases = module.in_proj_bias.chunk(3) if module.in_proj_bias is not None else (None,) * 3
        with torch.no_grad():
            for lin, wt, b in zip((new.q_proj, new.k_proj, new.v_proj), weights, biases):
                lin.weight.copy_(wt)
                if b is not None:
                    lin.bias.copy_(b)
            new.out_proj.weight.copy_(module.out_proj.weight)
            if module.out_proj.bias is not None:
                new.out_proj.bias.copy_(module.out_proj.bias)
            if new.bias_k is not None and new.bias_v is not None:
                new.bias_k.copy_(module.bias_k)  # type: ignore[arg-type]  # bias_k/bias_v exist when add_bias_kv
                new.bias_v.copy_(module.bias_v)  # type: ignore[arg-type]  # bias_k/bias_v exist when add_bias_kv
        return new.train(module.training)

    def to_torch(self) -> nn.MultiheadAttention:
        """The equivalent torch module (packed in_proj_weight when kdim = vdim = embed_dim)."""
        w = self.out_proj.weight
        out = nn.MultiheadAttention(
            self.embed_dim,
            self.num_heads,
            dropout=self.dropout,
            bias=self.q_proj.bias is not None,
            add_bias_kv=self.bias_k is not None,
            add_zero_attn=self.add_zero_attn,
            kdim=self.kdim,
            vdim=self.vdim,
            batch_first=self.batch_first,
            device=w.device,
            dtype=w.dtype,
        )
        projs = (self.q_proj, self.k_proj, self.v_proj)
        with torch.no_grad():
            if out._qkv_same_embed_dim:
                out.in_proj_weight.copy_(torch.cat([p.weight for p in projs]))
            else:
                for name, p in zip(("q_proj_weight", "k_proj_weight", "v_proj_weight"), projs):
                    getattr(out, name).copy_(p.weight)
            if out.in_proj_bias is not None:
                out.in_proj_bias.copy_(torch.cat([p.bias for p in projs]))  # type: ignore[misc]  # in_proj_bias exists when the projections have biases
                out.out_proj.bias.copy_(self.out_proj.bias)
            out.out_proj.weight.copy_(self.out_proj.weight)
            if out.bias_k is not None and out.bias_v is not None:
                out.bias_k.copy_(self.bias_k)  # type: ignore[arg-type]  # bias_k/bias_v exist when add_bias_kv
                out.bias_v.copy_(self.bias_v)  # type: ignore[arg-type]  # bias_k/bias_v exist when add_bias_kv
        return out.train(self.training)

    def extra_repr(self) -> str:
        s = f"embed_dim={self.embed_dim}, num_heads={self.num_heads}"
        if self.kdim != self.embed_dim or self.vdim != self.embed_dim:
            s += f", kdim={self.kdim}, vdim={self.vdim}"
        return s + (", batch_first=True" if self.batch_first else "")

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        key_padding_mask: torch.Tensor | None = None,
        need_weights: bool = True,
        attn_mask: torch.Tensor | None = None,
        average_attn_weights: bool = True,
        is_causal: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        name = "LinearMultiheadAttention"
        if query.dim() not in (2, 3) or key.dim() != query.dim() or value.dim() != query.dim():
            raise ValueError(
                f"{name}: query, key and value must all be 2-D (unbatched) or 3-D, got shapes "
                f"{tuple(query.shape)}, {tuple(key.shape)}, {tuple(value.shape)}"
            )
        batched = query.dim() == 3
        if batched and not self.batch_first:
            query, key, value = query.transpose(0, 1), key.transpose(0, 1), value.transpose(0, 1)
        elif not batched:
            query, key, value = query.unsqueeze(0), key.unsqueeze(0), value.unsqueeze(0)
            if key_padding_mask is not None:
                key_padding_mask = key_padding_mask.unsqueeze(0)
        # now [B, L, E], [B, S, kdim], [B, S, vdim]
        b0, tgt, src = query.shape[0], query.shape[1], key.shape[1]
        if key.shape[:2] != value.shape[:2]:
            raise ValueError(
                f"{name}: key and value differ in batch or length: {tuple(key.shape)} vs {tuple(value.shape)}"
            )
        if is_causal and attn_mask is None:
            raise RuntimeError(
                "Need attn_mask if specifying the is_causal hint (as torch's MultiheadAttention)"
            )
        kpm = _float_mask(key_padding_mask, "key_padding_mask", query.dtype)
        mask = _float_mask(attn_mask, "attn_mask", query.dtype)
        if mask is not None:
            expected = (tgt, src) if mask.dim() == 2 else (b0 * self.num_heads, tgt, src)
            if mask.dim() not in (2, 3) or tuple(mask.shape) != expected:
                raise ValueError(
                    f"{name}: attn_mask has shape {tuple(mask.shape)}, expected {(tgt, src)} or "
                    f"{(b0 * self.num_heads, tgt, src)}"
                )
        if kpm is not None and tuple(kpm.shape) != (b0, src):
            raise ValueError(f"{name}: key_padding_mask has shape {tuple(kpm.shape)}, expected {(b0, src)}")

        q, k, v = self.q_proj(query), self.k_proj(key), self.v_proj(value)  # on tiles: [B', L|S, E]
        batch, heads, hd = q.shape[0], self.num_heads, self.head_dim
        k, v = _match_batch(k, batch, 0, "key"), _match_batch(v, batch, 0, "value")
        if self.bias_k is not None and self.bias_v is not None:
            k = torch.cat([k, self.bias_k.expand(batch, 1, -1)], dim=1)
            v = torch.cat([v, self.bias_v.expand(batch, 1, -1)], dim=1)
            mask = None if mask is None else F.pad(mask, (0, 1))
            kpm = None if kpm is None else F.pad(kpm, (0, 1))
        q = q.view(batch, tgt, heads, hd).transpose(1, 2)  # [B', H, L, hd]
        k = k.view(batch, k.shape[1], heads, hd).transpose(1, 2)  # [B', H, S, hd]
        v = v.view(batch, v.shape[1], heads, hd).transpose(1, 2)
        if self.add_zero_attn:
            zeros = q.new_zeros(batch, heads, 1, hd)
            k, v = torch.cat([k, zeros], dim=2), torch.cat([v, zeros], dim=2)
            mask = None if mask is None else F.pad(mask, (0, 1))
            kpm = None if kpm is None else F.pad(kpm, (0, 1))
        s = k.shape[2]
        if mask is not None:
            mask = (
                mask[None, None]
                if mask.dim() == 2
                else _match_batch(mask.view(b0, heads, tgt, s), batch, 0, "attn_mask")
            )
        if kpm is not None:
            kpm = _match_batch(kpm, batch, 0, "key_padding_mask").view(batch, 1, 1, s)
            mask = kpm if mask is None else mask + kpm
        # digital: activation x activation products and the softmax
        scores = (q * math.sqrt(1.0 / hd)) @ k.transpose(-2, -1)  # [B', H, L, S]
        if mask is not None:
            scores = scores + mask
        weights = torch.softmax(scores, dim=-1)
        if self.dropout > 0 and self.training:
            weights = F.dropout(weights, self.dropout, training=True)
        out = (weights @ v).transpose(1, 2).reshape(batch, tgt, self.embed_dim)  # [B', L, E]
        out = self.out_proj(out)  # on tiles
        if not batched:
            out = out.squeeze(0)
        elif not self.batch_first:
            out = out.transpose(0, 1)
        if not need_weights:
            return out, None
        if average_attn_weights:
            weights = weights.mean(dim=1)
        return out, (weights if batched else weights.squeeze(0))


# ---------------------------------------------------------------------------------------------
# Transposed convolution
# ---------------------------------------------------------------------------------------------
class _LinearConvTransposeNd(nn.Module):
    """A transposed convolution written as an ordinary convolution (``self.conv``, on tiles once
    converted) of the zero-upsampled, padded input:

        conv_transpose(x, W, stride s, padding p, dilation d, output_padding q)
          = conv(pad(upsample0(x, s), d*(k-1) - p, d*(k-1) - p + q), W', stride 1, dilation d)

    upsample0 puts s-1 zeros between input samples; W' swaps W's in/out channels per group and flips
    its kernel. Digital: the zero insertion and padding (data movement only). Cost: the array sees
    the inserted zeros, about s^dims times the useful MACs (a sub-pixel split would avoid that).
    """

    _DIMS = 0
    _CONV: Any = nn.Conv1d  # Any: torch types kernel sizes per dimension count, these serve both
    _TORCH: Any = nn.ConvTranspose1d
    conv: nn.Conv1d | nn.Conv2d

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        stride=1,
        padding=0,
        output_padding=0,
        groups: int = 1,
        bias: bool = True,
        dilation=1,
        padding_mode: str = "zeros",
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        owner = type(self).__name__
        if padding_mode != "zeros":
            raise ConfigError(
                f"{owner}: padding_mode must be 'zeros' (as torch's transposed convs), got {padding_mode!r}"
            )
        if not isinstance(padding, (int, tuple, list)):
            raise ConfigError(f"{owner}: padding must be an int or a tuple of ints, got {padding!r}")

        def tup(v, name: str, minimum: int) -> tuple[int, ...]:
            t = tuple(int(a) for a in v) if isinstance(v, (tuple, list)) else (int(v),) * self._DIMS
            if len(t) != self._DIMS or min(t) < minimum:
                raise ConfigError(f"{owner}: {name} must be {self._DIMS} int(s) >= {minimum}, got {v!r}")
            return t

        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = tup(kernel_size, "kernel_size", 1)
        self.stride = tup(stride, "stride", 1)
        self.padding = tup(padding, "padding", 0)
        self.dilation = tup(dilation, "dilation", 1)
        self.output_padding = tup(output_padding, "output_padding", 0)
        for q, s_, d in zip(self.output_padding, self.stride, self.dilation):
            if q >= max(s_, d):
                raise ConfigError(
                    f"{owner}: output_padding must be smaller than stride or dilation, got "
                    f"output_padding={self.output_padding}, stride={self.stride}, "
                    f"dilation={self.dilation}"
                )
        self.conv = self._CONV(
            in_channels,
            out_channels,
            self.kernel_size,
            stride=1,
            padding=0,
            dilation=self.dilation,
            groups=groups,
            bias=bias,
            device=device,
            dtype=dtype,
        )
        ref = self._TORCH(
            in_channels,
            out_channels,
            self.kernel_size,
            stride=self.stride,
            padding=self.padding,
            output_padding=self.output_padding,
            groups=groups,
            bias=bias,
            dilation=self.dilation,
            device=device,
            dtype=dtype,
        )
        self._load_torch(ref)  # torch's initialisation (global RNG, the same draws as the torch layer)

    # weight layouts: torch [C_in, C_out/g, *k]  <->  conv [C_out, C_in/g, *k], kernel flipped
    def _to_conv_weight(self, w: torch.Tensor) -> torch.Tensor:
        g, k = self.groups, w.shape[2:]
        w = w.reshape(g, self.in_channels // g, self.out_channels // g, *k).transpose(1, 2)
        return w.reshape(self.out_channels, self.in_channels // g, *k).flip(list(range(2, 2 + self._DIMS)))

    def _to_torch_weight(self, w: torch.Tensor) -> torch.Tensor:
        g, k = self.groups, w.shape[2:]
        w = w.flip(list(range(2, 2 + self._DIMS))).reshape(
            g, self.out_channels // g, self.in_channels // g, *k
        )
        return w.transpose(1, 2).reshape(self.in_channels, self.out_channels // g, *k)

    @torch.no_grad()
    def _load_torch(self, module: nn.ConvTranspose1d | nn.ConvTranspose2d) -> None:
        self.conv.weight.copy_(self._to_conv_weight(module.weight))
        self.conv.weight.requires_grad_(module.weight.requires_grad)
        if module.bias is not None and self.conv.bias is not None:
            self.conv.bias.copy_(module.bias)

    @classmethod
    def from_torch(cls, module: nn.ConvTranspose1d | nn.ConvTranspose2d) -> "_LinearConvTransposeNd":
        """An exact copy of a torch ``nn.ConvTranspose1d`` / ``2d`` (weights copied, not shared)."""
        if not isinstance(module, cls._TORCH):
            raise ConfigError(
                f"{cls.__name__}.from_torch expects an {cls._TORCH.__name__}, got {type(module).__name__}"
            )
        w = module.weight
        new = cls(
            module.in_channels,
            module.out_channels,
            module.kernel_size,
            stride=module.stride,
            padding=module.padding,
            output_padding=module.output_padding,
            groups=module.groups,
            bias=module.bias is not None,
            dilation=module.dilation,
            padding_mode=module.padding_mode,
            device=w.device,
            dtype=w.dtype,
        )
        new._load_torch(module)
        return new.train(module.training)

    def to_torch(self) -> nn.ConvTranspose1d | nn.ConvTranspose2d:
        """The equivalent torch transposed convolution, with copies of the weights."""
        w = self.conv.weight
        out = self._TORCH(
            self.in_channels,
            self.out_channels,
            self.kernel_size,
            stride=self.stride,
            padding=self.padding,
            output_padding=self.output_padding,
            groups=self.groups,
            bias=self.conv.bias is not None,
            dilation=self.dilation,
            device=w.device,
            dtype=w.dtype,
        )
        with torch.no_grad():
            out.weight.copy_(self._to_torch_weight(w))
            if self.conv.bias is not None:
                out.bias.copy_(self.conv.bias)
        return out.train(self.training)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"padding={self.padding}, output_padding={self.output_padding}, dilation={self.dilation}, "
            f"groups={self.groups}"
        )

    def _resolve_output_padding(self, spatial: tuple[int, ...], output_size) -> tuple[int, ...]:
        if output_size is None:
            return self.output_padding
        size = [int(s) for s in output_size][-self._DIMS :]
        if len(size) != self._DIMS:
            raise ValueError(
                f"{type(self).__name__}: output_size must give {self._DIMS} spatial sizes, "
                f"got {list(output_size)}"
            )
        pads = []
        for n, want, s_, p, d, k in zip(
            spatial, size, self.stride, self.padding, self.dilation, self.kernel_size
        ):
            smallest = (n - 1) * s_ - 2 * p + d * (k - 1) + 1
            if not smallest <= want < smallest + max(s_, d):
                raise ValueError(
                    f"{type(self).__name__}: requested output size {size}, but valid sizes per "
                    f"dimension run from {smallest} to {smallest + max(s_, d) - 1}"
                )
            pads.append(want - smallest)
        return tuple(pads)

    def forward(self, input: torch.Tensor, output_size=None) -> torch.Tensor:
        """input [B, C_in, *L] (or unbatched [C_in, *L]) -> [B, C_out, *L_out], as torch."""
        n = self._DIMS
        if input.dim() not in (n + 1, n + 2):
            raise ValueError(
                f"{type(self).__name__}: expected a {n + 1}-D or {n + 2}-D input, got shape "
                f"{tuple(input.shape)}"
            )
        batched = input.dim() == n + 2
        x = input if batched else input.unsqueeze(0)
        spatial = tuple(x.shape[2:])
        out_pad = self._resolve_output_padding(spatial, output_size)
        if any(s_ > 1 for s_ in self.stride):  # zero insertion (digital data movement)
            up = x.new_zeros(*x.shape[:2], *[(m - 1) * s_ + 1 for m, s_ in zip(spatial, self.stride)])
            up[(slice(None), slice(None)) + tuple(slice(None, None, s_) for s_ in self.stride)] = x
            x = up
        pads: list[int] = []
        for dim in reversed(range(n)):  # F.pad lists the last dimension first; negative pads crop
            lo = self.dilation[dim] * (self.kernel_size[dim] - 1) - self.padding[dim]
            pads += [lo, lo + out_pad[dim]]
        y = self.conv(F.pad(x, pads))  # on tiles
        return y if batched else y.squeeze(0)


class LinearConvTranspose1d(_LinearConvTransposeNd):
    """Drop-in ``nn.ConvTranspose1d`` computed by an ``nn.Conv1d`` (``self.conv``) on the
    zero-upsampled input; see `_LinearConvTransposeNd`."""

    _DIMS = 1
    _CONV = nn.Conv1d
    _TORCH = nn.ConvTranspose1d


class LinearConvTranspose2d(_LinearConvTransposeNd):
    """Drop-in ``nn.ConvTranspose2d`` computed by an ``nn.Conv2d`` (``self.conv``) on the
    zero-upsampled input; see `_LinearConvTransposeNd`."""

    _DIMS = 2
    _CONV = nn.Conv2d
    _TORCH = nn.ConvTranspose2d


# ---------------------------------------------------------------------------------------------
# decompose
# ---------------------------------------------------------------------------------------------
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
