"""Deployment export: what a chip team loads onto the arrays.

`export_analog(amodel, out_dir)` writes
  conductances.safetensors   per tile block the target conductances in uS, [rows, cols] per device
                             ("<layer>/g<group>/r<row tile>/c<col tile>/<slice>/<G+|G-|G>")
  deployment.json            layer order, per layer its shape, the tile blocks (row/column ranges
                             in the unrolled matrix), DAC/ADC bits and ranges, digital scales,
                             bias, unipolar signs and the drift-compensation references
Rows of a block are unrolled as (input channel, kernel position) in torch order.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn

from tinycim.errors import MappingError
from tinycim.io import atomic_write_text
from tinycim.nn.convert import analog_layers, model_info
from tinycim.nn.state import effective_weights, gdc_signal, targets_from_slices

EXPORT_FORMAT = "tinycim-export-v2"


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def export_analog(amodel: nn.Module, out_dir: str | os.PathLike) -> Path:
    """Write the deployment files of a converted model; returns the JSON path.

    Each layer is exported as the simulator runs it: its own config (per-layer overrides), its
    unipolar signs, its converter ranges. Refuses weights or ranges that are not finite."""
    info = model_info(amodel)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    layers = []
    for order, (name, layer) in enumerate(analog_layers(amodel)):
        cfg = layer.analog_config
        w = layer.weight.detach().float()
        if not torch.isfinite(w).all() or (layer.bias is not None and not torch.isfinite(layer.bias).all()):
            raise MappingError(
                f"layer {name!r}: weight or bias holds NaN or inf values; refusing to export it"
            )
        with torch.no_grad():
            scale = layer.weight_scale().float()
            slices, significance = layer.normalized_weight(scale=scale, as_read=False)
        sign = layer.unipolar_sign
        g_target = targets_from_slices(
            slices.float(), None if sign is None else sign.float(), cfg.device.g_max_us
        )
        geo = layer.geometry
        g = g_target.reshape(*g_target.shape[:2], geo.groups, geo.out_per_group, geo.rows_per_group)
        device_names = ["G+", "G-"] if sign is None else ["G"]
        blocks = []
        for grp in range(geo.groups):
            for ri, (c0, c1) in enumerate(geo.row_chunks):
                r0, r1 = c0 * geo.kernel_numel, c1 * geo.kernel_numel
                for ci, (o0, o1) in enumerate(geo.col_chunks):
                    key = f"{name}/g{grp}/r{ri}/c{ci}"
                    for s in range(g.shape[0]):
                        for p, dev in enumerate(device_names):
                            # [rows, cols]: word lines x bit lines
                            tensors[f"{key}/{s}/{dev}"] = g[s, p, grp, o0:o1, r0:r1].t().contiguous()
                    block = {"key": key, "group": grp, "rows": [r0, r1], "cols": [o0, o1]}
                    if sign is not None:
                        block["sign"] = int(sign.reshape(geo.groups, geo.out_per_group, -1)[grp, o0, r0])
                    blocks.append(block)
        if layer.prog_gdc_ref is not None:
            reference = layer.prog_gdc_ref[0].tolist()  # measured after programming instance 0
        elif cfg.gdc is not None:  # expected from the targets; a chip measures its own after programming
            w_t = effective_weights(g_target.unsqueeze(0), sign, cfg.device.g_max_us)
            reference = gdc_signal(w_t, significance, cfg.gdc)[0].tolist()
        else:
            reference = None
        entry = {
            "order": order,
            "name": name,
            "type": type(layer).__name__,
            "analog_config": cfg.to_dict(),
            "weight_shape": list(w.shape),
            "groups": geo.groups,
            "kernel_size": list(getattr(layer, "kernel_size", None) or ()),
            "stride": list(getattr(layer, "stride", None) or ()),
            "padding": list(pad) if isinstance(pad := getattr(layer, "padding", None) or (), tuple) else pad,
            "matrix_rows_per_group": geo.rows_per_group,
            "matrix_cols_per_group": geo.out_per_group,
            "tile_blocks": blocks,
            "polarity": cfg.mapping.polarity,
            "slice_significance": significance.tolist(),
            "dac": {
                "bits": cfg.dac.bits,
                "range": _finite_or_none(float(layer.input_range)),
                "shared": layer.periphery.shared,
            },
            "adc": {
                "bits": cfg.adc.bits,
                "range": _finite_or_none(float(layer.output_range)),
                "shared": layer.periphery.shared,
            },
            "digital_scale_per_column": scale.tolist(),
            "bias": None if layer.bias is None else layer.bias.detach().tolist(),
            "gdc": {
                "mode": cfg.gdc,
                "reference": reference,
                "calibration_input": "random +-1 on every row; reference = RMS column response",
            },
        }
        layers.append(entry)
    save_file(tensors, str(out / "conductances.safetensors"), metadata={"format": EXPORT_FORMAT})
    doc = {
        "format": EXPORT_FORMAT,
        "g_unit": "uS",
        "analog_config": info.config.to_dict(),
        "digital_layers": [f"{n} ({t})" for n, t in info.report.digital],
        "layers": layers,
    }
    path = out / "deployment.json"
    atomic_write_text(path, json.dumps(doc, indent=1))
    return path


def load_export(model: nn.Module, out_dir: str | os.PathLike) -> nn.Module:
    """Rebuild the analog model a chip team would run from `export_analog`'s files: `model` is the
    digital architecture; each layer's weights come back from its exported conductances, slice
    significances and digital scales, with its bias, converter ranges and unipolar signs. The
    result computes what the exported model computed (its weights are on the device levels)."""
    import tinycim as tc
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from tinycim.config import AnalogConfig
    from tinycim.errors import ConfigError, DataError

    folder = Path(out_dir)
    doc_path, g_path = folder / "deployment.json", folder / "conductances.safetensors"
    for p in (doc_path, g_path):
        if not p.is_file():
            raise DataError(f"{p}: no such file (not a tinycim export folder)")
    try:
        doc = json.loads(doc_path.read_text())
        tensors = load_file(str(g_path))
    except (json.JSONDecodeError, UnicodeDecodeError, OSError, SafetensorError) as err:
        raise DataError(f"{folder}: unreadable export ({err})") from None
    if not isinstance(doc, dict) or doc.get("format") != EXPORT_FORMAT:
        raise DataError(f"{doc_path}: not a {EXPORT_FORMAT} deployment file")
    try:
        config = AnalogConfig.from_dict(doc["analog_config"])
    except (ConfigError, KeyError, TypeError) as err:
        raise DataError(f"{doc_path}: invalid analog_config ({err})") from None
    amodel = tc.convert(model, config)
    layers = dict(analog_layers(amodel))
    exported = {entry["name"]: entry for entry in doc["layers"]}
    if set(exported) != set(layers):
        raise DataError(
            f"{doc_path}: layers {sorted(exported)} do not match the model's analog layers {sorted(layers)}"
        )
    with torch.no_grad():
        for name, layer in layers.items():
            entry = exported[name]
            geo = layer.geometry
            g_max = layer.analog_config.device.g_max_us
            sig = entry["slice_significance"]
            w_n = torch.zeros(geo.groups, geo.out_per_group, geo.rows_per_group, dtype=torch.float64)
            sign = None if entry.get("polarity") != "unipolar" else torch.ones_like(w_n)
            for block in entry["tile_blocks"]:
                grp, (r0, r1), (o0, o1) = block["group"], block["rows"], block["cols"]
                for s, significance in enumerate(sig):
                    if sign is None:
                        g = (tensors[f"{block['key']}/{s}/G+"] - tensors[f"{block['key']}/{s}/G-"]).double()
                        w_n[grp, o0:o1, r0:r1] += significance * g.t() / g_max
                    else:
                        g = tensors[f"{block['key']}/{s}/G"].double()
                        w_n[grp, o0:o1, r0:r1] += significance * block["sign"] * g.t() / g_max
                if sign is not None:
                    sign[grp, o0:o1, r0:r1] = block["sign"]
            scale = torch.tensor(entry["digital_scale_per_column"], dtype=torch.float64)
            w = (w_n.reshape(layer.weight.shape[0], -1) * scale[:, None]).reshape(layer.weight.shape)
            layer.weight.copy_(w.to(layer.weight.dtype))
            if entry["bias"] is not None and layer.bias is not None:
                layer.bias.copy_(torch.tensor(entry["bias"], dtype=layer.bias.dtype))
            if sign is not None and layer.unipolar_sign is not None:
                layer.unipolar_sign.copy_(sign.reshape(layer.weight.shape).to(layer.unipolar_sign.dtype))
            for conv, key in ((layer.periphery.dac, "dac"), (layer.periphery.adc, "adc")):
                value = entry[key]["range"]
                if conv.fixed is None:
                    conv.set_range(math.nan if value is None else float(value))
        for layer in layers.values():
            if layer.periphery.shared and layer.analog_config.mapping.weight_max is None:
                users = [la for la in layers.values() if la.periphery is layer.periphery]
                layer.periphery.set_w_max(max(float(la.weight.abs().max()) for la in users))
    return amodel
