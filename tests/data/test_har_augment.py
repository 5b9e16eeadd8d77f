import math

import pytest
import torch

from tinycim.data.har_augment import augment_windows, random_rotations

OFF = {"max_rotation_deg": 0.0, "scale_std": 0.0, "max_shift": 0, "jitter_std": 0.0}


def windows(n=8, steps=32, seed=0):
    return torch.randn(n, 9, steps, generator=torch.Generator().manual_seed(seed))


def test_rotations_are_proper_and_bounded():
    rot = random_rotations(64, 10.0, torch.Generator().manual_seed(1))
    eye = torch.eye(3).expand(64, 3, 3)
    assert torch.allclose(rot @ rot.transpose(1, 2), eye, atol=1e-5)
    assert torch.allclose(torch.linalg.det(rot), torch.ones(64), atol=1e-5)
    angle = torch.acos(((rot.diagonal(dim1=1, dim2=2).sum(1) - 1) / 2).clamp(-1, 1))
    assert angle.max() <= math.radians(10.0) + 1e-4


def test_all_steps_off_is_a_copy():
    x = windows()
    y = augment_windows(x, torch.Generator().manual_seed(0), **OFF)
    assert torch.equal(x, y) and y is not x


def test_rotation_alone_keeps_each_vector_length():
    x = windows()
    y = augment_windows(x, torch.Generator().manual_seed(0), **{**OFF, "max_rotation_deg": 30.0})
    assert not torch.allclose(x, y)
    for g in range(3):  # body acc, gyro, total acc: one rotation, lengths kept
        assert torch.allclose(
            x[:, 3 * g : 3 * g + 3].norm(dim=1), y[:, 3 * g : 3 * g + 3].norm(dim=1), atol=1e-5
        )


def test_shift_alone_rolls_whole_windows():
    x = windows(n=4)
    y = augment_windows(x, torch.Generator().manual_seed(3), **{**OFF, "max_shift": 5})
    for i in range(4):
        assert any(torch.equal(torch.roll(x[i], s, dims=1), y[i]) for s in range(-5, 6))


def test_seeded_and_shape_checked():
    x = windows()
    a = augment_windows(x, torch.Generator().manual_seed(7))
    b = augment_windows(x, torch.Generator().manual_seed(7))
    assert torch.equal(a, b) and a.shape == x.shape and not torch.equal(a, x)
    with pytest.raises(ValueError, match=r"\[N, 9, T\]"):
        augment_windows(torch.zeros(2, 561), torch.Generator())
