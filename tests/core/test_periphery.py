"""DAC/ADC quantizers: idempotent, bounded, saturating, with straight-through gradients."""
from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tinycim.tiles.periphery import levels_per_side, quantize_symmetric

values = st.lists(st.floats(-1e3, 1e3, allow_nan=False, width=32), min_size=1, max_size=64)


@settings(max_examples=60, deadline=None)
@given(xs=values, full_scale=st.floats(1e-3, 1e2), bits=st.integers(2, 12))
def test_quantizer_is_idempotent_bounded_and_saturates(xs, full_scale, bits) -> None:
    x = torch.tensor(xs, dtype=torch.float32)
    with torch.no_grad():
        q = quantize_symmetric(x.clone(), full_scale, bits)
        qq = quantize_symmetric(q.clone(), full_scale, bits)
    torch.testing.assert_close(q, qq, rtol=1e-6, atol=1e-6 * full_scale)
    assert (q.abs() <= full_scale * (1 + 1e-6)).all()
    step = full_scale / levels_per_side(bits)
    inside = x.abs() <= full_scale
    assert ((q - x).abs()[inside] <= step / 2 * (1 + 1e-4) + 1e-6).all()
    big = x.abs() > full_scale
    torch.testing.assert_close(q[big], torch.sign(x[big]) * full_scale)


@settings(max_examples=30, deadline=None)
@given(xs=values, bits=st.integers(2, 10))
def test_quantizer_is_monotone(xs, bits) -> None:
    x = torch.tensor(sorted(xs), dtype=torch.float32)
    with torch.no_grad():
        q = quantize_symmetric(x.clone(), 10.0, bits)
    assert (q[1:] >= q[:-1]).all()


def test_grad_path_matches_inference_path_and_passes_gradients_inside_the_range() -> None:
    x = torch.linspace(-2, 2, 101, requires_grad=True)
    q = quantize_symmetric(x, 1.0, 4)
    with torch.no_grad():
        q_inf = quantize_symmetric(x.detach().clone(), 1.0, 4)
    torch.testing.assert_close(q.detach(), q_inf)
    q.sum().backward()
    inside = x.detach().abs() < 1.0
    outside = x.detach().abs() > 1.0
    assert (x.grad[inside] == 1).all() and (x.grad[outside] == 0).all()


def test_learned_full_scale_receives_gradient_from_clipped_values() -> None:
    fs = torch.tensor(1.0, requires_grad=True)
    x = torch.tensor([0.5, 3.0, 4.0])
    quantize_symmetric(x, fs, 8).sum().backward()
    assert fs.grad is not None and fs.grad.item() != 0
