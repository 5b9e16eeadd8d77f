"""The recurrent layers on analog tiles: the per-scan inference step (`_StepMVM`) gives bit for bit
what calling the analog layer at every step gives, on programmed and drifted chips (one and several
instances), unprogrammed in eval mode, and with packed sequences; with gradients the layer's own
forward runs."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

import tinycim as tc
from tinycim.nn import recurrent
from tinycim.nn.recurrent import base, cells, scan
from tinycim.nn.recurrent.scan import _StepMVM

pytestmark = [
    pytest.mark.usefixtures("one_thread_module"),
    # convert's BatchNorm folding traces with plain torch.fx, which cannot trace the time loop
    pytest.mark.filterwarnings("ignore:BatchNorm not folded"),
]


class _Seq(nn.Module):
    """A recurrent layer's whole result, flattened to one tensor per call."""

    def __init__(self, rnn: nn.Module) -> None:
        super().__init__()
        self.rnn = rnn

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        if lengths is not None:
            x = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, state = self.rnn(x)
        seq = out.data if lengths is not None else out
        states = state if isinstance(state, tuple) else (state,)
        return torch.cat([seq.flatten()] + [s.flatten() for s in states])


CASES = {
    "lstm": lambda: nn.LSTM(5, 7, num_layers=2, batch_first=True),
    "lstm_bidir": lambda: nn.LSTM(5, 7, bidirectional=True),
    "lstm_proj_bidir": lambda: nn.LSTM(5, 7, proj_size=3, bidirectional=True, batch_first=True),
    "gru": lambda: nn.GRU(5, 6, num_layers=2, bidirectional=True, batch_first=True),
    "rnn": lambda: nn.RNN(5, 6, batch_first=True),
}


def _analog(kind: str, x: torch.Tensor) -> nn.Module:
    torch.manual_seed(0)
    model = _Seq(CASES[kind]()).eval()
    amodel = tc.convert(model, "pcm")
    with torch.no_grad():
        tc.calibrate(amodel, x)
    return amodel


def _both(amodel: nn.Module, monkeypatch, *args) -> tuple[torch.Tensor, torch.Tensor, int]:
    """(output with the per-scan step, output calling the layer each step, fast scans taken)."""
    taken = []
    real = scan._analog_inference_step

    def spy(layer, h, weights):
        found = real(layer, h, weights)
        taken.append(found is not None)
        return found

    with torch.no_grad():
        monkeypatch.setattr(scan, "_analog_inference_step", spy)
        fast = amodel(*args)
        monkeypatch.setattr(scan, "_analog_inference_step", lambda layer, h, weights: None)
        slow = amodel(*args)
    monkeypatch.setattr(scan, "_analog_inference_step", real)
    return fast, slow, sum(taken)


@pytest.mark.parametrize("kind", sorted(CASES))
@pytest.mark.parametrize("instances", [1, 3])
def test_programmed_chip_step_is_bit_exact(kind, instances, monkeypatch):
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(4, 6, 5, generator=gen)
    amodel = _analog(kind, x)
    tc.program(amodel, seed=3, instances=instances)
    tc.drift(amodel, seconds=86400.0)
    fast, slow, taken = _both(amodel, monkeypatch, x)
    assert taken > 0
    assert fast.shape == slow.shape and fast.shape[0] % instances == 0
    _assert_same(fast, slow, kind)
    lengths = torch.tensor([6, 2, 5, 1])
    fast, slow, taken = _both(amodel, monkeypatch, x, lengths)
    assert taken > 0 and torch.equal(fast, slow)  # packed: the per-step path, bit for bit


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_unprogrammed_eval_step_is_bit_exact(kind, monkeypatch):
    x = torch.randn(3, 5, 5, generator=torch.Generator().manual_seed(2))
    amodel = _analog(kind, x)
    fast, slow, taken = _both(amodel, monkeypatch, x)
    assert taken > 0
    _assert_same(fast, slow, kind)


def _assert_same(fast: torch.Tensor, slow: torch.Tensor, kind: str) -> None:
    """The per-scan step is bit for bit the layer's; the LSTM inference scan (`_lstm_inference`:
    ADC gain folded into the weights, biases and factors rearranged) equal up to float rounding."""
    if kind in ("lstm", "lstm_bidir"):
        assert float((fast - slow).norm() / slow.norm()) < 1e-6
    else:
        assert torch.equal(fast, slow)


def test_with_gradients_the_layer_forward_runs():
    x = torch.randn(2, 4, 5, generator=torch.Generator().manual_seed(3))
    amodel = _analog("lstm", x)
    tc.program(amodel, seed=0)
    hh = amodel.rnn.hh_l0
    h = torch.zeros(2, 7)
    assert scan._analog_inference_step(hh, h, hh._mvm_weights()) is None  # autograd: no shortcut
    with torch.no_grad():
        assert scan._analog_inference_step(hh, h, hh._mvm_weights()) is not None
    step = _StepMVM(hh, h.requires_grad_())
    step(h).sum().backward()
    assert h.grad is not None


def test_digital_linear_step_adds_the_bias_once():
    gen = torch.Generator().manual_seed(4)
    lin = nn.Linear(3, 8)
    xp = torch.randn(2, 5, 8, generator=gen)
    h = torch.randn(2, 3, generator=gen)
    step = _StepMVM(lin, h, xp)
    for t in range(5):
        torch.testing.assert_close(step(h, t), xp[:, t] + lin(h))


@pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")
@pytest.mark.parametrize(
    "make",
    [
        lambda: nn.LSTM(5, 7, num_layers=2, batch_first=True),
        lambda: nn.LSTM(5, 7, proj_size=3, bidirectional=True, batch_first=True),
        lambda: nn.GRU(5, 6, num_layers=2, bidirectional=True, batch_first=True),
    ],
)
@pytest.mark.parametrize("packed", [False, True])
def test_inference_without_autograd_matches_torch(make, packed):
    """The inference-only cell (the g gate folded into the sigmoid, in-place updates) against torch."""
    gen = torch.Generator().manual_seed(5)
    torch.manual_seed(0)
    ref = make().eval()
    with torch.no_grad():
        for p in ref.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.4)
    ours = recurrent.decompose(_Seq(ref))[0]
    x = torch.randn(4, 9, 5, generator=gen)
    lengths = torch.tensor([9, 3, 7, 1]) if packed else None
    with torch.no_grad():
        want, got = _Seq(ref)(x, lengths), ours(x, lengths)
    assert float((got - want).norm() / want.norm()) < 1e-5


# ---- hardware-aware training: one draw of the weight noise per sequence ----------------------
def _noisy_rnn(kind: str, analog: str = "ideal") -> nn.Module:
    from tinycim.train import HWAConfig, prepare

    torch.manual_seed(0)
    model = _Seq(CASES[kind]())
    with pytest.warns(UserWarning):  # prepare reports the model's analog share
        prepared = prepare(model, HWAConfig(noise="gaussian", noise_eta=0.2), analog, seed=7)
    return prepared.train()


@pytest.mark.parametrize("kind", sorted(CASES))
def test_training_noise_is_drawn_once_per_sequence(kind, monkeypatch):
    """Each analog Linear maps (and perturbs) its weights once per forward of the recurrent layer,
    not once per time step, with or without autograd."""
    model = _noisy_rnn(kind)
    layers = [m for name, m in model.rnn.named_children() if name[:2] in ("ih", "hh", "hr")]
    calls = {id(m): 0 for m in layers}
    for m in layers:
        real = m.normalized_weight

        def spy(*args, _real=real, _id=id(m), **kwargs):
            calls[_id] += 1
            return _real(*args, **kwargs)

        monkeypatch.setattr(m, "normalized_weight", spy)
    x = torch.randn(3, 8, 5, generator=torch.Generator().manual_seed(1))
    model(x).sum().backward()
    assert all(n == 1 for n in calls.values()), calls
    assert all(m.weight.grad is not None and m.weight.grad.abs().sum() > 0 for m in layers)
    with torch.no_grad():
        model(x)
    assert all(n == 2 for n in calls.values()), calls


def test_every_step_sees_the_same_perturbed_weights():
    """An Elman RNN on ideal devices (no converters) with training noise equals the recurrence run by
    hand with ONE noisy draw of W_ih and W_hh (the layers' generators restarted from the same seed);
    with a fresh draw per step it would not."""
    model = _noisy_rnn("rnn")
    rnn = model.rnn
    ih, hh = rnn.ih_l0, rnn.hh_l0
    x = torch.randn(3, 8, 5, generator=torch.Generator().manual_seed(2))
    for m in (ih, hh):
        m.seed_noise(11)
    with torch.no_grad():
        out, h_n = rnn(x)
        for m in (ih, hh):
            m.seed_noise(11)
        w = {}
        for name, m in (("ih", ih), ("hh", hh)):
            slices, _ = m.normalized_weight(noise=True)
            w[name] = slices[0] * m.weight_scale()[:, None]
        assert not torch.allclose(w["hh"], hh.weight, atol=1e-3)  # the noise is on
        h = torch.zeros(3, 6)
        ys = []
        for t in range(x.shape[1]):
            h = torch.tanh(F.linear(x[:, t], w["ih"], ih.bias) + F.linear(h, w["hh"], hh.bias))
            ys.append(h)
    torch.testing.assert_close(out, torch.stack(ys, dim=1), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(h_n[0], h, rtol=1e-5, atol=1e-6)


def test_oversubscribed_machine_runs_the_scan_on_one_thread_when_asked(monkeypatch):
    """With ADAPT_THREADS (opt-in), without autograd on an oversubscribed machine the recurrence
    runs on one thread (same numbers), and torch's thread count is restored; off (the default) it
    keeps all threads."""
    assert base.ADAPT_THREADS is False
    seen: list[int] = []
    real = recurrent.LinearRNNBase._run_layers

    def spy(self, *args):
        seen.append(torch.get_num_threads())
        return real(self, *args)

    monkeypatch.setattr(recurrent.LinearRNNBase, "_run_layers", spy)
    monkeypatch.setattr(base, "_oversubscribed", lambda: True)
    monkeypatch.setattr(base, "ADAPT_THREADS", True)
    rnn = recurrent.LinearLSTM(5, 7, batch_first=True).eval()
    x = torch.randn(3, 4, 5, generator=torch.Generator().manual_seed(6))
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with torch.no_grad():
            one = rnn(x)[0]
            monkeypatch.setattr(base, "ADAPT_THREADS", False)
            both = rnn(x)[0]
        assert seen == [1, 2] and torch.get_num_threads() == 2
        assert torch.equal(one, both)
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("bias", [True, False])
def test_lstm_inference_scan_matches_torch_with_states_directions_and_layouts(bias, monkeypatch):
    """The no-autograd LSTM scan (`_lstm_inference`): bidirectional, 2 layers, time-major input,
    given (h_0, c_0), with and without bias, batched and unbatched, against torch."""
    calls = []
    real = scan._lstm_inference

    def spy(*args):
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(cells, "_lstm_inference", spy)
    gen = torch.Generator().manual_seed(7)
    torch.manual_seed(0)
    ref = nn.LSTM(5, 7, num_layers=2, bidirectional=True, bias=bias).eval()
    with torch.no_grad():
        for p in ref.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
    ours = recurrent.LinearLSTM.from_torch(ref).eval()
    x = torch.randn(6, 3, 5, generator=gen)
    h0, c0 = torch.randn(4, 3, 7, generator=gen), torch.randn(4, 3, 7, generator=gen)
    with torch.no_grad():
        for args in ((x, (h0, c0)), (x,), (x[:, 0], (h0[:, 0], c0[:, 0]))):
            (y, (h, c)), (y_ref, (h_ref, c_ref)) = ours(*args), ref(*args)
            for got, want in ((y, y_ref), (h, h_ref), (c, c_ref)):
                assert got.shape == want.shape
                assert float((got - want).norm() / want.norm()) < 1e-5
    assert len(calls) == 3 * 4  # every layer and direction took the scan
