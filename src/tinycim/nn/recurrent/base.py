"""`LinearRNNBase`: the structure, checks, state handling and layer loop shared by `LinearLSTM`,
`LinearGRU` and `LinearRNN` (their cells are in `tinycim.nn.recurrent.cells`, the per-step MVM in
`tinycim.nn.recurrent.scan`)."""

from __future__ import annotations

import math
import os
import warnings

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from tinycim.errors import ConfigError


def _check_positive_int(value: object, name: str, owner: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{owner}: {name} must be an int >= {minimum}, got {value!r}")
    return value


def _check_dropout(value: object, owner: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ConfigError(f"{owner}: dropout must be a number in [0, 1], got {value!r}")
    return float(value)


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
        _check_dropout(dropout, owner)
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


def _rename_torch_keys(module: LinearRNNBase, state_dict: dict, prefix: str, *_args) -> None:
    """load_state_dict pre-hook: a torch LSTM/GRU/RNN state_dict (``weight_ih_l0``, ...) loads too."""
    for torch_name, my_name in module.torch_names():
        key = prefix + torch_name
        if key in state_dict and prefix + my_name not in state_dict:
            state_dict[prefix + my_name] = state_dict.pop(key)


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
