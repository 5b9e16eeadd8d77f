"""The recurrent MVM of one scan (`_StepMVM`) and the LSTM inference scan (`_lstm_inference`):
what does not change along a sequence (chip weights, one draw of the training noise, converter
levels and ranges) is resolved once, before the time loop."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeGuard

import torch
import torch.nn.functional as F
from torch import nn

from tinycim.nn.recurrent.base import _hooked
from tinycim.tiles.quant import levels_per_side

if TYPE_CHECKING:
    from tinycim.nn.layers import AnalogLinear


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
      layer's integer inference path (`tinycim.nn.inference_path._fast_block`) written out with the weights,
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


# Elements of the input projection converted per block (~4 MB of float32: the converter passes
# run from cache), as the analog layers' own inference path does.
_BLOCK_ELEMENTS = 1 << 20


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
