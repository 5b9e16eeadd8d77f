"""Linear-based LSTM / GRU / RNN / MultiheadAttention against torch's modules, and `decompose`.

Equivalence is measured as a norm-wise relative error ||ours - torch|| / ||torch|| < 1e-5 on
outputs, final states and gradients (inputs, initial states and every weight), over a hypothesis
grid of shapes, layers, directions, layouts, sequence lengths, packing and initial states.
"""

from __future__ import annotations

import warnings

import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from tinycim.errors import ConfigError
from tinycim.nn.recurrent import (
    DecomposedModule,
    LeafTracer,
    LinearConvTranspose1d,
    LinearConvTranspose2d,
    LinearGRU,
    LinearLSTM,
    LinearMultiheadAttention,
    LinearRNN,
    decompose,
)

pytestmark = pytest.mark.usefixtures("one_thread_module")

TOL = 1e-5
PAIRS = {"lstm": (nn.LSTM, LinearLSTM), "gru": (nn.GRU, LinearGRU), "rnn": (nn.RNN, LinearRNN)}


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach(), b.detach()
    return float((a - b).norm() / b.norm().clamp_min(1e-12))


def _randomize(module: nn.Module, gen: torch.Generator) -> None:
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.4)


def _torch_call(module: nn.Module, *args):
    with warnings.catch_warnings():  # "LSTM with projections is not supported with oneDNN"
        warnings.simplefilter("ignore", UserWarning)
        return module(*args)


def _flat(out) -> list[torch.Tensor]:
    """Every tensor of an RNN's (output, state) result, PackedSequence data included."""
    if isinstance(out, PackedSequence):
        return [out.data]
    if isinstance(out, torch.Tensor):
        return [out]
    return [t for o in out for t in _flat(o)]


@st.composite
def rnn_cases(draw):
    kind = draw(st.sampled_from(sorted(PAIRS)))
    packed = draw(st.booleans())
    return dict(
        kind=kind,
        num_layers=draw(st.integers(1, 2)),
        bidirectional=draw(st.booleans()),
        batch_first=draw(st.booleans()),
        bias=draw(st.booleans()),
        steps=draw(st.integers(1, 6)),
        batch=draw(st.integers(1, 3)),
        unbatched=not packed and draw(st.booleans()),
        packed=packed,
        with_state=draw(st.booleans()),
        proj=draw(st.sampled_from([0, 2])) if kind == "lstm" else 0,
        nonlinearity=draw(st.sampled_from(["tanh", "relu"])) if kind == "rnn" else "tanh",
        seed=draw(st.integers(0, 2**16)),
    )


@settings(max_examples=60, deadline=None, derandomize=True)
@given(case=rnn_cases())
def test_recurrent_layers_match_torch_outputs_states_and_gradients(case):
    gen = torch.Generator().manual_seed(case["seed"])
    torch_cls, ours_cls = PAIRS[case["kind"]]
    hidden, features = 5, 4
    kw = dict(
        num_layers=case["num_layers"],
        bias=case["bias"],
        batch_first=case["batch_first"],
        bidirectional=case["bidirectional"],
    )
    if case["proj"]:
        kw["proj_size"] = case["proj"]
    if case["kind"] == "rnn":
        kw["nonlinearity"] = case["nonlinearity"]
    ref = torch_cls(features, hidden, **kw)
    _randomize(ref, gen)
    ours = ours_cls.from_torch(ref)

    T, B = case["steps"], case["batch"]
    x = (
        torch.randn(B, T, features, generator=gen)
        if case["batch_first"]
        else torch.randn(T, B, features, generator=gen)
    )
    if case["unbatched"]:
        x = x[0] if case["batch_first"] else x[:, 0]
    n_states = case["num_layers"] * (2 if case["bidirectional"] else 1)
    lead = (n_states,) if case["unbatched"] else (n_states, B)
    states = None
    if case["with_state"]:
        h0 = torch.randn(*lead, case["proj"] or hidden, generator=gen)
        states = (h0, torch.randn(*lead, hidden, generator=gen)) if case["kind"] == "lstm" else h0

    def run(module):
        xi = x.clone().requires_grad_(True)
        si = (
            None
            if states is None
            else (
                tuple(s.clone().requires_grad_(True) for s in states)
                if isinstance(states, tuple)
                else states.clone().requires_grad_(True)
            )
        )
        inp = xi
        if case["packed"]:
            lengths = torch.randint(1, T + 1, (B,), generator=gen_len(case))
            inp = pack_padded_sequence(xi, lengths, batch_first=case["batch_first"], enforce_sorted=False)
        out = _torch_call(module, inp) if si is None else _torch_call(module, inp, si)
        tensors = _flat(out)
        loss = sum((t * torch.linspace(-1, 1, t.numel()).view(t.shape)).sum() for t in tensors)
        loss.backward()
        leaves = [xi] + ([] if si is None else list(si) if isinstance(si, tuple) else [si])
        return out, tensors, [leaf.grad for leaf in leaves]

    out_ref, t_ref, g_ref = run(ref)
    out_ours, t_ours, g_ours = run(ours)
    assert len(t_ref) == len(t_ours)
    for a, b in zip(t_ours, t_ref):
        assert a.shape == b.shape
        assert rel(a, b) < TOL
    if case["packed"]:
        assert torch.equal(out_ours[0].batch_sizes, out_ref[0].batch_sizes)
        assert torch.equal(out_ours[0].unsorted_indices, out_ref[0].unsorted_indices)
    for a, b in zip(g_ours, g_ref):
        assert rel(a, b) < TOL
    mine = dict(ours.named_parameters())
    for torch_name, my_name in ours.torch_names():
        assert rel(mine[my_name].grad, getattr(ref, torch_name).grad) < TOL, torch_name


def gen_len(case) -> torch.Generator:
    return torch.Generator().manual_seed(case["seed"] + 1)  # the same lengths for both modules


@pytest.mark.parametrize("kind", sorted(PAIRS))
def test_every_matrix_is_a_linear_named_like_torch(kind):
    torch_cls, ours_cls = PAIRS[kind]
    kw = {"proj_size": 3} if kind == "lstm" else {}
    ours = ours_cls(4, 6, num_layers=2, bidirectional=True, **kw)
    linears = {n for n, m in ours.named_modules() if type(m) is nn.Linear}
    expected = {
        f"{p}_l{k}{r}"
        for p in ("ih", "hh") + (("hr",) if kind == "lstm" else ())
        for k in (0, 1)
        for r in ("", "_reverse")
    }
    assert linears == expected
    assert not [n for n, _ in ours.named_parameters(recurse=False)]  # no raw matrices outside Linears
    gates = {"lstm": 4, "gru": 3, "rnn": 1}[kind]
    assert ours.ih_l1.in_features == 2 * (3 if kind == "lstm" else 6)  # previous layer, both directions
    assert ours.hh_l0.out_features == gates * 6


@pytest.mark.parametrize("kind", sorted(PAIRS))
def test_torch_state_dict_round_trip(kind):
    torch_cls, ours_cls = PAIRS[kind]
    gen = torch.Generator().manual_seed(3)
    ref = torch_cls(3, 4, num_layers=2, bidirectional=True)
    _randomize(ref, gen)
    ours = ours_cls(3, 4, num_layers=2, bidirectional=True)
    ours.load_state_dict(ref.state_dict())  # torch's parameter names are accepted
    back = ours.to_torch()
    assert type(back) is torch_cls
    for name, p in ref.state_dict().items():
        assert torch.equal(back.state_dict()[name], p)
    x = torch.randn(5, 2, 3, generator=gen)
    torch.testing.assert_close(ours(x)[0], ref(x)[0], rtol=1e-5, atol=1e-6)


def test_eval_mode_ignores_dropout_and_train_mode_applies_it():
    gen = torch.Generator().manual_seed(0)
    ref = nn.LSTM(3, 4, num_layers=2, dropout=0.5)
    _randomize(ref, gen)
    ours = LinearLSTM.from_torch(ref).eval()
    x = torch.randn(6, 2, 3, generator=gen)
    assert rel(ours(x)[0], ref.eval()(x)[0]) < TOL
    ours.train()
    torch.manual_seed(0)
    a = ours(x)[0]
    torch.manual_seed(0)
    assert torch.equal(a, ours(x)[0])  # dropout draws from the global RNG like torch's
    assert rel(a, ours.eval()(x)[0]) > 1e-3


def test_constructor_errors_name_the_argument():
    with pytest.raises(ConfigError, match="proj_size is only supported for LSTM"):
        LinearGRU(3, 4, proj_size=2)
    with pytest.raises(ConfigError, match="proj_size must be < hidden_size"):
        LinearLSTM(3, 4, proj_size=4)
    with pytest.raises(ConfigError, match="hidden_size must be an int >= 1"):
        LinearLSTM(3, 0)
    with pytest.raises(ConfigError, match=r"dropout must be a number in \[0, 1\]"):
        LinearGRU(3, 4, num_layers=2, dropout=1.5)
    with pytest.raises(ConfigError, match="nonlinearity"):
        LinearRNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ConfigError, match="divisible by num_heads"):
        LinearMultiheadAttention(10, 3)
    with pytest.warns(UserWarning, match="no effect with num_layers=1"):
        LinearLSTM(3, 4, dropout=0.2)


def test_forward_shape_errors_are_one_line_and_name_the_tensor():
    lstm = LinearLSTM(3, 4, num_layers=2)
    x = torch.zeros(5, 2, 3)
    with pytest.raises(ValueError, match=r"c_0 has shape \(2, 2, 5\), expected \(2, 2, 4\)"):
        lstm(x, (torch.zeros(2, 2, 4), torch.zeros(2, 2, 5)))
    with pytest.raises(ValueError, match="input has 7 features, expected input_size=3"):
        lstm(torch.zeros(5, 2, 7))
    with pytest.raises(ValueError, match="2 \\(unbatched\\) or 3 dimensions"):
        LinearGRU(3, 4)(torch.zeros(1, 5, 2, 3))


class _InstanceLinear(nn.Linear):
    """Stands in for an analog layer with K programmed instances: a shared input [B, ...] gives
    [K*B, ...] (instance k adds k * 1e-3), per-instance activations [K*B, ...] stay that size."""

    K, B = 3, 2

    def forward(self, x):
        y = super().forward(x)
        if x.shape[0] == self.B:
            y = y.repeat(self.K, *([1] * (y.dim() - 1)))
        offset = torch.arange(self.K, dtype=y.dtype).repeat_interleave(self.B) * 1e-3
        return y + offset.view(-1, *([1] * (y.dim() - 1)))


def _to_instance_linears(module: nn.Module) -> None:
    for name, child in list(module.named_children()):
        if type(child) is nn.Linear:
            new = _InstanceLinear(child.in_features, child.out_features, bias=child.bias is not None)
            new.load_state_dict(child.state_dict())
            setattr(module, name, new)
        else:
            _to_instance_linears(child)


@pytest.mark.parametrize("kind", ["lstm", "gru", "mha"])
def test_initial_states_and_masks_follow_instance_major_batches(kind):
    """After the first MVM, activations are [K*B, ...]: initial states and masks given for B
    samples are repeated instance-major, and instance k's output is computed with instance k."""
    gen = torch.Generator().manual_seed(1)
    K, B = _InstanceLinear.K, _InstanceLinear.B
    if kind == "mha":
        module = LinearMultiheadAttention(4, 2, batch_first=True)
        q = torch.randn(B, 3, 4, generator=gen)
        kpm = torch.tensor([[False, False, True], [False, False, False]])
        args, kwargs = (q, q, q), dict(key_padding_mask=kpm, attn_mask=torch.zeros(3, 3))
    else:
        module = (LinearLSTM if kind == "lstm" else LinearGRU)(4, 5, num_layers=2, batch_first=True)
        lengths = torch.tensor([3, 2])
        x = pack_padded_sequence(
            torch.randn(B, 3, 4, generator=gen), lengths, batch_first=True, enforce_sorted=False
        )
        h0 = torch.randn(2, B, 5, generator=gen)
        args, kwargs = (x, (h0, torch.randn(2, B, 5, generator=gen)) if kind == "lstm" else h0), {}
    _randomize(module, gen)

    def outputs() -> list[tuple[torch.Tensor, int]]:
        """(tensor, its batch dim) for every output: padded sequence, states or attention weights."""
        out = module(*args, **kwargs)
        if kind == "mha":
            return [(out[0].detach(), 0), (out[1].detach(), 0)]
        seq = pad_packed_sequence(out[0], batch_first=True)[0]
        return [(seq.detach(), 0)] + [(t.detach(), 1) for t in _flat(out[1])]

    reference = outputs()
    _to_instance_linears(module)
    for (got, dim), (want, _) in zip(outputs(), reference):
        n = want.shape[dim]
        assert got.shape[dim] == K * n
        assert rel(got.narrow(dim, 0, n), want) < TOL  # instance 0 carries no offset: the digital result
        assert 1e-6 < rel(got.narrow(dim, (K - 1) * n, n), want) < 0.1  # the others their own weights


# ---- attention -------------------------------------------------------------------------------
@st.composite
def mha_cases(draw):
    return dict(
        batch_first=draw(st.booleans()),
        unbatched=draw(st.booleans()),
        bias=draw(st.booleans()),
        kv_dims=draw(st.sampled_from([(None, None), (3, 5)])),
        bias_kv=draw(st.booleans()),
        zero_attn=draw(st.booleans()),
        heads=draw(st.sampled_from([1, 2, 4])),
        tgt=draw(st.integers(1, 5)),
        src=draw(st.integers(1, 5)),
        batch=draw(st.integers(1, 3)),
        attn_mask=draw(st.sampled_from([None, "bool2d", "float3d"])),
        kpm=draw(st.booleans()),
        need_weights=draw(st.booleans()),
        average=draw(st.booleans()),
        self_attn=draw(st.booleans()),
        seed=draw(st.integers(0, 2**16)),
    )


@settings(max_examples=60, deadline=None, derandomize=True)
@given(case=mha_cases())
def test_multihead_attention_matches_torch(case):
    gen = torch.Generator().manual_seed(case["seed"])
    E, H = 8, case["heads"]
    kdim, vdim = case["kv_dims"]
    self_attn = case["self_attn"] and kdim is None
    ref = nn.MultiheadAttention(
        E,
        H,
        bias=case["bias"],
        add_bias_kv=case["bias_kv"],
        add_zero_attn=case["zero_attn"],
        kdim=kdim,
        vdim=vdim,
        batch_first=case["batch_first"],
    )
    _randomize(ref, gen)
    ours = LinearMultiheadAttention.from_torch(ref)
    B, L = case["batch"], case["tgt"]
    S = L if self_attn else case["src"]

    def seq(n, d):
        if case["unbatched"]:
            return torch.randn(n, d, generator=gen)
        return (
            torch.randn(B, n, d, generator=gen)
            if case["batch_first"]
            else torch.randn(n, B, d, generator=gen)
        )

    q = seq(L, E)
    k, v = (q, q) if self_attn else (seq(S, kdim or E), seq(S, vdim or E))
    kwargs = dict(need_weights=case["need_weights"], average_attn_weights=case["average"])
    if case["attn_mask"] == "bool2d":
        mask = torch.rand(L, S, generator=gen) < 0.3
        mask[:, 0] = False  # every query attends to something
        kwargs["attn_mask"] = mask
    elif case["attn_mask"] == "float3d":
        kwargs["attn_mask"] = torch.randn(H * (1 if case["unbatched"] else B), L, S, generator=gen)
    if case["kpm"]:
        kpm = (
            torch.rand(S, generator=gen) < 0.3 if case["unbatched"] else torch.rand(B, S, generator=gen) < 0.3
        )
        kpm[..., 0] = False
        if case["attn_mask"] == "float3d":
            kpm = torch.zeros(kpm.shape).masked_fill(kpm, float("-inf"))  # torch wants matching mask types
        kwargs["key_padding_mask"] = kpm

    def run(module):
        leaves = [t.clone().requires_grad_(True) for t in (q, k, v)]
        if self_attn:
            leaves = [leaves[0]] * 3
        out, w = module(*leaves, **kwargs)
        loss = (out * torch.linspace(-1, 1, out.numel()).view(out.shape)).sum()
        if w is not None:
            loss = loss + (w * torch.linspace(0, 1, w.numel()).view(w.shape)).sum()
        loss.backward()
        return out, w, [leaf.grad for leaf in leaves]

    out_r, w_r, g_r = run(ref)
    out_o, w_o, g_o = run(ours)
    assert out_o.shape == out_r.shape and rel(out_o, out_r) < TOL
    assert (w_o is None) == (w_r is None)
    if w_r is not None:
        assert w_o.shape == w_r.shape and rel(w_o, w_r) < TOL
    for a, b in zip(g_o, g_r):
        assert rel(a, b) < TOL
    ref_in = (
        ref.in_proj_weight.grad
        if ref._qkv_same_embed_dim
        else torch.cat(
            [
                ref.q_proj_weight.grad.flatten(),
                ref.k_proj_weight.grad.flatten(),
                ref.v_proj_weight.grad.flatten(),
            ]
        )
    )
    ours_in = (
        torch.cat([p.weight.grad for p in (ours.q_proj, ours.k_proj, ours.v_proj)])
        if ref._qkv_same_embed_dim
        else torch.cat([p.weight.grad.flatten() for p in (ours.q_proj, ours.k_proj, ours.v_proj)])
    )
    assert rel(ours_in, ref_in) < TOL
    assert rel(ours.out_proj.weight.grad, ref.out_proj.weight.grad) < TOL


def test_attention_to_torch_round_trip_and_causal_hint():
    gen = torch.Generator().manual_seed(5)
    ours = LinearMultiheadAttention(6, 2, kdim=4, vdim=4, batch_first=True)
    _randomize(ours, gen)
    back = ours.to_torch()
    q, kv = torch.randn(2, 3, 6, generator=gen), torch.randn(2, 5, 4, generator=gen)
    torch.testing.assert_close(ours(q, kv, kv)[0], back(q, kv, kv)[0], rtol=1e-5, atol=1e-6)
    with pytest.raises(RuntimeError, match="Need attn_mask"):
        ours(q, kv, kv, is_causal=True)
    causal = nn.Transformer.generate_square_subsequent_mask(3)
    torch.testing.assert_close(
        ours(q, q[..., :4], q[..., :4], attn_mask=causal, is_causal=True)[0],
        back(q, q[..., :4], q[..., :4], attn_mask=causal, is_causal=True)[0],
        rtol=1e-5,
        atol=1e-6,
    )


# ---- decompose -------------------------------------------------------------------------------
class _Mixed(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(4, 6, 3, padding=1)
        self.lstm = nn.LSTM(6, 8, num_layers=2, batch_first=True, bidirectional=True)
        self.gru = nn.GRU(16, 8)
        self.encoder = nn.TransformerEncoder(
            nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0, batch_first=True),
            num_layers=2,
            enable_nested_tensor=True,
        )
        self.head = nn.Linear(8, 3)

    def forward(self, x, pad=None):  # x: [B, 4, T]
        h = self.conv(x).transpose(1, 2)  # [B, T, 6]
        h, _ = self.lstm(h)
        h, _ = self.gru(h.transpose(0, 1))  # seq-first
        h = self.encoder(h.transpose(0, 1), src_key_padding_mask=pad)
        return self.head(h.mean(dim=1))


def test_decompose_keeps_the_function_and_reports_every_module():
    torch.manual_seed(0)
    model = _Mixed().eval()
    gen = torch.Generator().manual_seed(7)
    x = torch.randn(3, 4, 6, generator=gen)
    pad = torch.zeros(3, 6, dtype=torch.bool)
    pad[0, 4:] = True
    expected = model(x, pad).detach()  # grad on: torch's own slow path (its fused path zeroes padded steps)
    import copy

    dec, rows = decompose(copy.deepcopy(model))
    assert dec.encoder.use_nested_tensor is False
    names = {r.name: r for r in rows}
    assert set(names) == {"lstm", "gru", "encoder.layers.0.self_attn", "encoder.layers.1.self_attn"}
    assert names["lstm"] == DecomposedModule("lstm", "LSTM", "LinearLSTM", names["lstm"].digital)
    assert "QK^T" in names["encoder.layers.0.self_attn"].digital
    assert not any(isinstance(m, (nn.LSTM, nn.GRU, nn.MultiheadAttention)) for m in dec.modules())
    calls = []
    dec.encoder.layers[1].self_attn.q_proj.register_forward_hook(lambda *a: calls.append(1))
    with torch.no_grad():
        got = dec(x, pad)
    assert calls == [1]  # the decomposed projection ran: no fused kernel bypassed it
    assert rel(got, expected) < TOL
    with torch.no_grad():
        assert rel(dec(x), model(x)) < TOL
    dec.train()
    assert rel(dec(x), model.train()(x)) < TOL  # dropout=0: training mode is the same function


def test_decompose_root_module_and_overriding_subclass():
    lstm = nn.LSTM(3, 4)
    new, rows = decompose(lstm)
    assert isinstance(new, LinearLSTM) and rows == [
        DecomposedModule("", "LSTM", "LinearLSTM", rows[0].digital)
    ]

    class Custom(nn.GRU):
        def forward(self, x, hx=None):
            return super().forward(x * 2, hx)

    model = nn.Sequential(Custom(3, 4))
    same, rows = decompose(model)
    assert isinstance(same[0], Custom)
    assert rows[0].replacement == "" and "overrides forward" in rows[0].digital


def test_leaf_tracer_traces_a_decomposed_model_that_plain_fx_cannot():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv1d(3, 4, 3), nn.BatchNorm1d(4), nn.Flatten(0, 0))
    model.append(nn.LSTM(6, 5, batch_first=True))  # [B, 4, 6] -> ([B, 4, 5], states)
    dec, _ = decompose(model)
    with pytest.raises(TypeError):
        torch.fx.symbolic_trace(dec)
    graph = LeafTracer().trace(dec)
    traced = torch.fx.GraphModule(dec, graph)
    calls = [n.target for n in graph.nodes if n.op == "call_module"]
    assert calls == ["0", "1", "2", "3"]  # the LSTM copy is one call, the conv still feeds its BN
    x = torch.randn(2, 3, 8, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(traced(x)[0], dec(x)[0])


# ---- transposed convolution ------------------------------------------------------------------
@st.composite
def convt_cases(draw):
    dims = draw(st.sampled_from([1, 2]))
    groups = draw(st.sampled_from([1, 2]))

    def per_dim(lo, hi):
        return tuple(draw(st.integers(lo, hi)) for _ in range(dims))

    stride, dilation = per_dim(1, 3), per_dim(1, 2)
    return dict(
        dims=dims,
        groups=groups,
        cin=groups * draw(st.integers(1, 2)),
        cout=groups * draw(st.integers(1, 3)),
        kernel=per_dim(1, 3),
        stride=stride,
        padding=per_dim(0, 2),
        dilation=dilation,
        output_padding=tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation)),
        bias=draw(st.booleans()),
        size=per_dim(1, 5),
        batch=draw(st.integers(0, 2)),
        seed=draw(st.integers(0, 2**16)),
    )


@settings(max_examples=60, deadline=None, derandomize=True)
@given(case=convt_cases())
def test_transposed_convolution_matches_torch(case):
    n = case["dims"]
    out_size = [
        (m - 1) * s - 2 * p + d * (k - 1) + q + 1
        for m, s, p, d, k, q in zip(
            case["size"],
            case["stride"],
            case["padding"],
            case["dilation"],
            case["kernel"],
            case["output_padding"],
        )
    ]
    assume(min(out_size) >= 1)
    gen = torch.Generator().manual_seed(case["seed"])
    cls = nn.ConvTranspose1d if n == 1 else nn.ConvTranspose2d
    ref = cls(
        case["cin"],
        case["cout"],
        case["kernel"],
        stride=case["stride"],
        padding=case["padding"],
        output_padding=case["output_padding"],
        groups=case["groups"],
        bias=case["bias"],
        dilation=case["dilation"],
    )
    _randomize(ref, gen)
    ours = (LinearConvTranspose1d if n == 1 else LinearConvTranspose2d).from_torch(ref)
    shape = (
        (case["cin"], *case["size"]) if case["batch"] == 0 else (case["batch"], case["cin"], *case["size"])
    )
    x = torch.randn(shape, generator=gen)

    def run(module):
        xi = x.clone().requires_grad_(True)
        y = module(xi)
        (y * torch.linspace(-1, 1, y.numel()).view(y.shape)).sum().backward()
        return y, xi.grad

    (y_r, g_r), (y_o, g_o) = run(ref), run(ours)
    assert y_o.shape == y_r.shape and list(y_o.shape[-n:]) == out_size
    assert rel(y_o, y_r) < TOL and rel(g_o, g_r) < TOL
    assert rel(ours._to_torch_weight(ours.conv.weight.grad), ref.weight.grad) < TOL
    back = ours.to_torch()
    assert torch.equal(back.weight, ref.weight)


def test_transposed_convolution_output_size_and_errors():
    gen = torch.Generator().manual_seed(2)
    ref = nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1)
    _randomize(ref, gen)
    ours = LinearConvTranspose2d.from_torch(ref)
    x = torch.randn(1, 2, 4, 5, generator=gen)
    for size in ([7, 9], [8, 10], (1, 3, 8, 9)):
        torch.testing.assert_close(ours(x, output_size=size), ref(x, output_size=size), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="valid sizes per dimension run from 7 to 8"):
        ours(x, output_size=[9, 9])
    with pytest.raises(ConfigError, match="output_padding must be smaller than stride or dilation"):
        LinearConvTranspose1d(2, 2, 3, stride=2, output_padding=2)
    with pytest.raises(ConfigError, match="padding_mode must be 'zeros'"):
        LinearConvTranspose1d(2, 2, 3, padding_mode="reflect")
    dec, rows = decompose(nn.Sequential(nn.ConvTranspose1d(2, 2, 3, stride=2)))
    assert isinstance(dec[0], LinearConvTranspose1d) and isinstance(dec[0].conv, nn.Conv1d)
    assert rows[0].replacement == "LinearConvTranspose1d" and "zero insertion" in rows[0].digital
