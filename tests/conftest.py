"""Fixtures shared by every test directory."""

from __future__ import annotations

import contextlib

import pytest
import torch


@contextlib.contextmanager
def _single_thread():
    # Tiny tensors: intra-op threads only add spin-waiting on a busy 2-core CI box (4x slower measured).
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture
def one_thread():
    """torch runs on one intra-op thread for this test."""
    with _single_thread():
        yield


@pytest.fixture(scope="module")
def one_thread_module():
    """torch runs on one intra-op thread for the whole test module."""
    with _single_thread():
        yield
