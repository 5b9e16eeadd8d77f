"""An accuracy-free simulation summary of a zoo model: mapping, tiles, output drift vs FP32."""

from __future__ import annotations

from pathlib import Path

import torch

import tinycim as tc
from tinycim.errors import ConfigError
from tinycim.units import format_duration, parse_durations


def simulate_model(
    name: str,
    *,
    preset: str = "pcm",
    config_path: str | None = None,
    instances: int = 4,
    times: str = "1s,1h,1d,30d,1y",
    batch: int = 64,
    seed: int = 0,
) -> dict:
    """Convert, calibrate, program `instances` chips and drift them; compare outputs with FP32.

    Returns a JSON-ready dict: per layer the matrix and tiles, per time the relative output
    error ||y_analog - y_fp|| / ||y_fp|| and the top-1 agreement with FP32 (mean, std over chips).
    """
    from tinycim.models import create_model

    if config_path:
        path = Path(config_path)
        if not path.is_file():
            raise ConfigError(f"{path}: config file not found")
        cfg = tc.AnalogConfig.from_json(path.read_text())
        preset = str(path)
    else:
        cfg = tc.AnalogConfig.preset(preset)
    seconds = parse_durations(times)
    model = create_model(name, seed=seed).eval()
    shape = tuple(getattr(model, "input_shape", None) or getattr(model, "default_input_shape"))
    x = torch.randn(batch, *shape, generator=torch.Generator().manual_seed(seed))
    amodel = tc.convert(model, cfg)
    tc.calibrate(amodel, x)
    tc.program(amodel, seed=seed, instances=instances)
    with torch.no_grad():
        ref = model(x)
        rows = []
        for t in seconds:
            tc.drift(amodel, t)
            y = amodel(x).view(instances, batch, -1)
            err = (y - ref).flatten(1).norm(dim=1) / ref.flatten().norm()
            agree = (y.argmax(-1) == ref.argmax(-1)).float().mean(dim=1)
            rows.append(
                {
                    "time": format_duration(t),
                    "seconds": t,
                    "rel_error_mean": float(err.mean()),
                    "rel_error_std": float(err.std()) if instances > 1 else 0.0,
                    "agreement_mean": float(agree.mean()),
                    "agreement_std": float(agree.std()) if instances > 1 else 0.0,
                }
            )
    layers = []
    for lname, layer in tc.analog_layers(amodel):
        geo = layer.geometry
        layers.append(
            {
                "name": lname,
                "type": type(layer).__name__,
                "matrix": f"{geo.rows_per_group} x {geo.out_per_group} x {geo.groups}",
                "tiles": len(geo.tiles),
                "utilization": geo.utilization,
            }
        )
    return {
        "model": name,
        "preset": preset,
        "instances": instances,
        "seed": seed,
        "conversion": tc.nn.model_info(amodel).report.summary(),
        "layers": layers,
        "drift": rows,
    }
