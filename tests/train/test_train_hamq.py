"""HamQ: exact popcount value, the steepest-secant surrogate gradient, lambda = 0 -> None, ON cells fall."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tinycim.train import HWAConfig, TrainConfig, fit, on_cell_fraction, prepare
from tinycim.train.hamq import hamq_penalty, interpolated_popcount, popcount, secant_slope, surrogate_popcount

BITS = st.integers(1, 8)


def _hw(q: int) -> int:
    return q.bit_count()


@settings(max_examples=60, deadline=None)
@given(bits=BITS, data=st.data())
def test_surrogate_and_interpolation_equal_the_exact_popcount_at_integer_codes(bits, data):
    q = data.draw(st.lists(st.integers(0, (1 << bits) - 1), min_size=1, max_size=20))
    x = torch.tensor(q, dtype=torch.float32)
    exact = torch.tensor([_hw(v) for v in q], dtype=torch.float32)
    assert torch.equal(popcount(x, bits), exact)
    assert torch.equal(interpolated_popcount(x, bits), exact)
    assert torch.equal(surrogate_popcount(x, bits), exact)


@settings(max_examples=60, deadline=None)
@given(bits=st.integers(2, 8), data=st.data())
def test_value_is_popcount_of_the_rounded_code_and_interpolation_is_linear(bits, data):
    top = (1 << bits) - 1
    q = data.draw(st.integers(0, top - 1))
    frac = data.draw(st.floats(0.0, 1.0, exclude_max=True))
    x = torch.tensor([q + frac])
    stored = float(x[0])  # the float32 code actually evaluated (q + frac rounded to float32)
    assert float(surrogate_popcount(x, bits)) == _hw(round(stored))
    frac = stored - q
    expected = (1 - frac) * _hw(q) + frac * _hw(q + 1)
    assert float(interpolated_popcount(x, bits)) == pytest.approx(expected, abs=1e-5)


@settings(max_examples=80, deadline=None)
@given(bits=st.integers(2, 8), data=st.data())
def test_radius_one_gradient_is_the_slope_toward_the_lower_popcount_neighbour(bits, data):
    top = (1 << bits) - 1
    q = data.draw(st.integers(0, top - 1))
    frac = data.draw(st.floats(0.05, 0.95))
    x = torch.tensor([q + frac], requires_grad=True)
    surrogate_popcount(x, bits, radius=1).sum().backward()
    slope = _hw(q + 1) - _hw(q)  # HW(ceil) - HW(floor)
    assert float(x.grad) == pytest.approx(slope, abs=1e-4)
    # a gradient step (x -= lr * grad) moves toward the neighbour with fewer ON cells
    if slope != 0:
        lower = q if _hw(q) < _hw(q + 1) else q + 1
        assert (lower - (q + frac)) * -slope > 0


def test_known_codes_and_wider_reach():
    x = torch.tensor([31.4, 30.6, 47.0, 36.0, 32.0, 0.0])
    # 30.6: H falls toward 30 (HW 4 < HW 31 = 5); 47 -> 48 (101111 -> 110000)
    assert secant_slope(x, 6, radius=1).tolist() == pytest.approx([-4.0, 1.0, -3.0, 0.0, 0.0, 0.0])
    # wider reach: 30.6 sees 32 (HW 1) 1.4 codes up, 36 = 100100 sees 32 = 100000 four codes
    # below; 32 and 0 stay minima
    assert secant_slope(x, 6, radius=4).tolist() == pytest.approx([-4.0, -3.6 / 1.4, -3.0, 0.25, 0.0, 0.0])


@settings(max_examples=80, deadline=None)
@given(bits=st.integers(2, 8), radius=st.integers(1, 8), data=st.data())
def test_gradient_points_at_a_lower_popcount_code_in_reach_or_is_zero(bits, radius, data):
    """The secant descends toward a code within `radius` whose popcount is below H(x); it is 0
    exactly when no such code exists (a local minimum of the popcount at that reach)."""
    top = (1 << bits) - 1
    x0 = data.draw(st.floats(0.0, float(top)))
    x = torch.tensor([x0], dtype=torch.float32)
    x0 = float(x)
    h = float(interpolated_popcount(x, bits))
    g = float(secant_slope(x, bits, radius))
    reach = [j for j in range(top + 1) if 1e-6 < abs(j - x0) <= radius and _hw(j) < h - 1e-6]
    if g == 0:
        assert not reach
    else:
        ahead = [j for j in reach if (j - x0) * -g > 0]  # codes in the descent direction
        assert ahead


def _six_bit():
    from tinycim.config import AnalogConfig

    ideal = AnalogConfig.preset("ideal")
    return dataclasses.replace(ideal, mapping=dataclasses.replace(ideal.mapping, weight_bits=6))


def test_lambda_zero_gives_none(tiny_model):
    model = prepare(tiny_model, HWAConfig(hamq_lambda=0.0), _six_bit())
    assert hamq_penalty(model) is None
    model = prepare(tiny_model, HWAConfig(hamq_lambda=0.5), _six_bit())
    value = hamq_penalty(model)
    assert value is not None
    assert float(value.detach()) == pytest.approx(0.5 * 6 * on_cell_fraction(model), rel=1e-5)


def test_training_with_hamq_clearly_lowers_on_cells(tiny_model, data):
    cfg = TrainConfig(epochs=4, lr=1e-2, batch_size=32, seed=0)
    on = {}
    for lam in (0.0, 0.5):
        model = prepare(tiny_model, HWAConfig(hamq_lambda=lam), _six_bit())
        fit(model, data[0], None, cfg, progress=False)
        on[lam] = on_cell_fraction(model)
    assert on[0.5] < 0.85 * on[0.0], on  # measured: 0.346 vs 0.475 (-27 %)
