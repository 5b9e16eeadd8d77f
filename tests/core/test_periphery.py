"""DAC/ADC quantizers: idempotent, bounded, saturating, with straight-through gradients."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tinycim.tiles.periphery import levels_per_side, quantize_symmetric
from tinycim.tiles.quant import fake_quant

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


def test_fake_quant_matches_the_inference_quantizer_and_passes_gradients_inside_the_range() -> None:
    """One quantizer: the differentiable form (training) gives the inference values exactly."""
    x = torch.linspace(-2, 2, 101, requires_grad=True)
    q = fake_quant(x, torch.tensor(1.0), 4)
    torch.testing.assert_close(q.detach(), quantize_symmetric(x.detach().clone(), 1.0, 4))
    q.sum().backward()
    inside = x.detach().abs() < 1.0
    outside = x.detach().abs() > 1.0
    assert (x.grad[inside] == 1).all() and (x.grad[outside] == 0).all()


def test_full_scale_gradient_is_lsq() -> None:
    """dy/dfs = (q(x) - x * [|x| < fs]) / fs (Esser et al. 2020): the rounding error inside the
    range, +-1 at saturation; checked against the formula, element by element."""
    x = torch.tensor([0.5, -0.23, 3.0, -4.0, 0.999], dtype=torch.float64)
    for i in range(x.numel()):
        fs = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
        fake_quant(x[i : i + 1], fs, 8).sum().backward()
        q = quantize_symmetric(x[i : i + 1], 1.0, 8)
        inside = float(x[i].abs() < 1.0)
        expected = float(q) - float(x[i]) * inside
        assert float(fs.grad) == pytest.approx(expected, abs=1e-12)
