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

Modules: `base` (the shared layer loop), `scan` (the per-step MVM and the LSTM inference
scan), `cells` (LSTM, GRU, RNN), `attention`, `conv_transpose`, `decompose`.
"""

from tinycim.nn.recurrent.attention import LinearMultiheadAttention
from tinycim.nn.recurrent.base import LinearRNNBase
from tinycim.nn.recurrent.cells import LinearGRU, LinearLSTM, LinearRNN
from tinycim.nn.recurrent.conv_transpose import LinearConvTranspose1d, LinearConvTranspose2d
from tinycim.nn.recurrent.decompose import DECOMPOSABLE, LEAF_TYPES, DecomposedModule, LeafTracer, decompose

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
