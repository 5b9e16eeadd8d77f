"""Garcia-Redondo et al. (IJCNN 2020) on their hardware: differential + per-layer full-custom periphery
(the paper's baseline) against unipolar + one shared uniform design, both from a har_unipolar run.

    nice -n 10 .venv/bin/python benchmarks/cost_unipolar.py --recipe recipes/har_unipolar.yaml \
        --run runs/har_unipolar --data-dir /path/to/uci_hapt_raw.tar.xz [--accelerator unipolar-ijcnn]

Baseline: the run's FP-trained network (OUT/fp) on 2-bit (or --device-bits 4) multi-level devices, each
signed weight a G+ / G- pair on two columns, every layer with its own converter set. Proposed: the run's
unipolar network (OUT/hwa, positive-only, its own config), one converter design shared by all layers
(periphery="uniform"). The two mixed rows separate the effects. Activity from the first --samples test
windows. Published: -80 % area, -45 % energy (v1 of the preprint: -67 % / -40 %).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import torch

import tinycim.cost as cost
from tinycim.cost import format_energy


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", required=True)
    ap.add_argument("--run", required=True, help="the recipe's --out directory")
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--accelerator", default="unipolar-ijcnn")
    ap.add_argument("--device-bits", type=int, action="append", help="repeatable; default 2 and 4")
    ap.add_argument(
        "--differential",
        choices=["cell", "columns", "arrays"],
        help="override the preset's layout.differential (how the baseline's G+/G- pair is built)",
    )
    ap.add_argument("--samples", type=int, default=64)
    ap.add_argument("--json", help="write the table here")
    args = ap.parse_args()
    from tinycim.data import load
    from tinycim.pipeline.recipe import load_recipe
    from tinycim.train import load_run, to_analog

    torch.set_num_threads(1)
    recipe = load_recipe(args.recipe)
    test = load(
        recipe.dataset, args.data_dir, split=recipe.splits["test"], seed=recipe.seed, **recipe.dataset_options
    )
    x = test.x[: args.samples]
    # converter ranges the trained models do not set (the FP baseline's) are calibrated on training data
    calib = load(
        recipe.dataset,
        args.data_dir,
        split=recipe.splits["train"],
        seed=recipe.seed,
        **recipe.dataset_options,
    ).x[:512]
    run = Path(args.run)
    fp, _, _, _ = load_run(run / "fp")
    uni, _, uni_cfg, _ = load_run(run / "hwa")
    bits = recipe.act_bits[0]
    acc = cost.get_accelerator(args.accelerator)
    if args.differential:
        acc = dataclasses.replace(acc, layout=dataclasses.replace(acc.layout, differential=args.differential))
    out: dict = {
        "recipe": recipe.name,
        "accelerator": args.accelerator,
        "differential": acc.layout.differential,
        "act_bits": bits,
        "rows": [],
    }
    for dbits in args.device_bits or [2, 4]:
        mapping = dataclasses.replace(uni_cfg.mapping, weight_bits=dbits, device_bits=dbits)
        cfg_uni = dataclasses.replace(uni_cfg, mapping=mapping)
        cfg_diff = dataclasses.replace(uni_cfg, mapping=dataclasses.replace(mapping, polarity="differential"))
        models = {
            "differential": to_analog(fp, cfg_diff, calibrate_with=calib).eval(),
            "unipolar": to_analog(uni, cfg_uni, calibrate_with=calib).eval(),
        }
        print(
            f"\n{recipe.name} on {args.accelerator}, {dbits}-bit devices, {bits}-bit activations, {len(x)} test windows"
        )
        print(
            f"  {'weights':<13} {'periphery':<10} {'area mm^2':>10} {'(array / periph / digital)':>30} "
            f"{'energy':>10} {'columns':>8} {'area':>7} {'energy':>7}"
        )
        base = None
        for pol, periph in (
            ("differential", "per-layer"),
            ("differential", "uniform"),
            ("unipolar", "per-layer"),
            ("unipolar", "uniform"),
        ):
            r = cost.estimate(models[pol], acc, act_bits=bits, inputs=x, periphery=periph)
            base = base or r
            a = r.area_breakdown_mm2
            d_area, d_energy = (
                r.area_mm2 / base.area_mm2 - 1,
                r.energy_per_inference_j / base.energy_per_inference_j - 1,
            )
            print(
                f"  {pol:<13} {periph:<10} {r.area_mm2:>10.5f} {a['array']:>10.5f} / {a['periphery']:.5f} / "
                f"{a['digital']:.3f} {format_energy(r.energy_per_inference_j):>10} {r.extra['columns']:>8} "
                f"{d_area:>+7.1%} {d_energy:>+7.1%}"
            )
            out["rows"].append(
                {
                    "device_bits": dbits,
                    "weights": pol,
                    "periphery": periph,
                    "area_mm2": r.area_mm2,
                    "area_breakdown_mm2": a,
                    "energy_j": r.energy_per_inference_j,
                    "energy_by_component_j": r.energy_by_component_j,
                    "area_change_pct": 100 * d_area,
                    "energy_change_pct": 100 * d_energy,
                }
            )
        first, last = out["rows"][-4], out["rows"][-1]
        analog = [acc.scoped_area_mm2(r["area_breakdown_mm2"]) for r in (first, last)]
        e_scope = [acc.scoped_energy_j(r["energy_by_component_j"]) for r in (first, last)]
        e_wo_buffer = [r["energy_j"] - r["energy_by_component_j"]["sram"] for r in (first, last)]
        print(
            f"  claim scope (area: {' + '.join(acc.area_scope) or 'whole chip'}; energy: "
            f"{' + '.join(acc.energy_scope) or 'whole chip'}): area {analog[1] / analog[0] - 1:+.1%}, energy "
            f"{e_scope[1] / e_scope[0] - 1:+.1%}   (whole chip: area {last['area_change_pct']:+.1f} %, energy "
            f"{last['energy_change_pct']:+.1f} %; energy without the activation SRAM "
            f"{e_wo_buffer[1] / e_wo_buffer[0] - 1:+.1%})"
            + (f"\n  scope: {acc.scope_note}" if acc.scope_note else "")
        )
        last["scope_area_change_pct"] = 100 * (analog[1] / analog[0] - 1)
        last["scope_energy_change_pct"] = 100 * (e_scope[1] / e_scope[0] - 1)
        last["energy_without_sram_change_pct"] = 100 * (e_wo_buffer[1] / e_wo_buffer[0] - 1)
        comp = out["rows"][-1]["energy_by_component_j"]
        comp0 = out["rows"][-4]["energy_by_component_j"]
        print(
            "  energy by component, baseline -> proposed: "
            + ", ".join(
                f"{k} {format_energy(comp0[k])} -> {format_energy(comp[k])}"
                for k in comp0
                if comp0[k] or comp[k]
            )
        )
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
