"""The whole flow on CUDA (skipped without a GPU; `scripts/gpu_check.sh` runs these on one)."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

import tinycim as tc
from tinycim.train import HWAConfig, TrainConfig, evaluate_drift, fit, init_ranges, prepare, to_analog

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")]


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 8 * 8, 3)
    )


def test_program_drift_and_inference_on_cuda_match_cpu():
    model = _model().eval()
    x = torch.randn(16, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    cfg = dataclasses.replace(tc.AnalogConfig.preset("pcm"), device=tc.IdealDevice())
    outs = []
    for device in ("cpu", "cuda"):
        amodel = tc.convert(model.to(device), cfg)
        tc.calibrate(amodel, x.to(device))
        tc.program(amodel, seed=0, instances=3)
        tc.drift(amodel, 86400.0)
        with torch.no_grad():
            outs.append(amodel(x.to(device)).cpu())
    torch.testing.assert_close(outs[0], outs[1], rtol=1e-4, atol=1e-4)


def test_hardware_aware_training_and_drift_on_cuda():
    from tinycim.data.dataset import Dataset

    x = torch.randn(64, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    y = torch.arange(64) % 3
    ds = Dataset(x.cuda(), y.cuda(), classes=["a", "b", "c"], name="toy", split="train")
    prepared = prepare(_model().cuda(), HWAConfig.preset("pcm"), "pcm")
    init_ranges(prepared, ds.x[:32])
    fit(prepared, ds, ds, TrainConfig(epochs=1, batch_size=16), progress=False)
    result = evaluate_drift(to_analog(prepared), ds, times=[1.0, 86400.0], instances=2)
    assert all(0 <= m <= 100 for m in result.mean)
    assert next(prepared.parameters()).is_cuda
