"""`LinearLSTM`, `LinearGRU`, `LinearRNN`: drop-in torch recurrent modules whose matrices are
``nn.Linear`` submodules (the cells; the shared loop is `LinearRNNBase`)."""

from __future__ import annotations

import torch
from torch import nn

from tinycim.errors import ConfigError
from tinycim.nn.recurrent.base import LinearRNNBase, _match_batch
from tinycim.nn.recurrent.scan import _inference_matrix, _lstm_inference, _StepMVM, _tanh


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
