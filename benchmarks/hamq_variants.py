"""HamQ variants of the `kws_hamq` recipe (issue 17, third pass): train, measure, and where the codes sit.

    python benchmarks/hamq_variants.py train TAG --lam 5 [--seed 1] [--clip none | --clip-value 3]
        [--input-bits] [--no-ramp] --fp runs/i17b/kws_hamq --data-dir D --out runs/i17c
    python benchmarks/hamq_variants.py measure twin=runs/i17c/twin/hwa l5=runs/i17c/l5/hwa --data-dir D
    python benchmarks/hamq_variants.py codes runs/i17c/l5/hwa [...]

`train` fine-tunes one hardware-aware phase of the recipe from its trained FP model (the recipe run's
`fp` folder), through the runner's own phase function, with the recipe's hardware and these HamQ
settings (lambda 0 gives the twin). `measure` prints, against the first model named: ON bit-cells,
`hamq-bitcell` energy on the bit-line claim scope and the whole chip (a fresh unprogrammed copy,
activity from 64 test inputs) and accuracy 1 day after programming on the held-out speakers over 10
chips. `codes` prints per layer where the 6-bit weight codes sit and the mean popcount an oracle
reaches by moving every weight to the lowest-popcount code within k codes. Not a test (each `train`
is tens of minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import torch

import tinycim.cost as cost
import tinycim.train.hamq as hamq
from tinycim.data import load
from tinycim.evaluate.drift import evaluate_drift
from tinycim.pipeline import runner
from tinycim.pipeline.hardware import phase_configs, recipe_chip
from tinycim.pipeline.provenance import provenance
from tinycim.pipeline.recipe import load_recipe
from tinycim.train import load_run, on_cell_fraction, to_analog, to_digital

RECIPE = "recipes/kws_hamq.yaml"


def _data(recipe, data_dir: str) -> dict:
    return {
        split: load(recipe.dataset, data_dir, split=name, seed=recipe.seed, **recipe.dataset_options)
        for split, name in recipe.splits.items()
    }


def train(args) -> None:
    """One HamQ (or lambda-0 twin) phase of the recipe, from the recipe run's FP model."""
    hamq.LAMBDA_WARMUP = not args.no_ramp
    hamq.WEIGHT_BY_INPUT_BITS = args.input_bits
    recipe = load_recipe(RECIPE)
    if args.seed is not None:
        recipe = dataclasses.replace(recipe, seed=args.seed)
    data = _data(recipe, args.data_dir)
    fp_model = to_digital(load_run(Path(args.fp) / "fp")[0]).eval()
    assert recipe.hwa is not None
    overrides = {**recipe.hwa.overrides, "hamq_lambda": args.lam, "clip": args.clip}
    overrides["clip_value"] = args.clip_value
    phase = dataclasses.replace(recipe.hwa, epochs=args.epochs, lr=args.lr, overrides=overrides)
    out = Path(args.out) / args.tag
    out.mkdir(parents=True, exist_ok=True)
    (out / "args.json").write_text(json.dumps({**vars(args), "provenance": provenance()}, default=str))
    hwa, chip = phase_configs(phase, recipe_chip(recipe))
    t0 = time.perf_counter()
    runner._train_phase(
        "hwa",
        phase,
        lambda: fp_model,
        hwa,
        recipe,
        data,
        out,
        runner._Steps(out, print),
        chip,
        False,
        teacher=fp_model,
    )
    print(f"done {args.tag} in {time.perf_counter() - t0:.0f} s -> {out / 'hwa'}")


def measure(args) -> None:
    """ON cells, energy (claim scope and whole chip) and 1-day accuracy, against the first model."""
    recipe = load_recipe(RECIPE)
    test = load(
        recipe.dataset, args.data_dir, split=recipe.splits["test"], seed=recipe.seed, **recipe.dataset_options
    )
    accelerator = cost.get_accelerator(args.accelerator)
    rows = {}
    for item in args.models:
        name, path = item.split("=", 1)
        prepared, _, chip, _ = load_run(Path(path))
        report = cost.estimate(
            to_analog(prepared, chip).eval(),
            args.accelerator,
            act_bits=recipe.act_bits[0],
            inputs=test.x[: args.samples],
        )
        dr = evaluate_drift(
            to_analog(prepared, chip), test, times=[86400.0], instances=args.instances, seed=recipe.seed
        )
        rows[name] = {
            "path": path,
            "on_cell_fraction": on_cell_fraction(prepared),
            "energy_j": report.energy_per_inference_j,
            "scope_j": accelerator.scoped_energy_j(report.energy_by_component_j),
            "acc_1d": float(dr.mean[0]),
            "acc_1d_std": float(dr.std[0]),
        }
        r = rows[name]
        print(
            f"{name}: ON {r['on_cell_fraction']:.4f}  bit-line {r['scope_j'] * 1e9:.2f} nJ  "
            f"whole {r['energy_j'] * 1e9:.1f} nJ  1 day {r['acc_1d']:.2f} +- {r['acc_1d_std']:.2f} %",
            flush=True,
        )
    names = list(rows)
    base = rows[names[0]]
    for name in names[1:]:
        r = rows[name]
        print(
            f"{name} vs {names[0]}: ON {100 * (r['on_cell_fraction'] / base['on_cell_fraction'] - 1):+.1f} %  "
            f"bit-line {100 * (r['scope_j'] / base['scope_j'] - 1):+.1f} %  "
            f"whole {100 * (r['energy_j'] / base['energy_j'] - 1):+.1f} %  "
            f"accuracy {r['acc_1d'] - base['acc_1d']:+.2f} pp"
        )
    if args.json:
        Path(args.json).write_text(json.dumps({"provenance": provenance(), "models": rows}, indent=1))


def codes(args) -> None:
    """Where each layer's 6-bit weight codes sit, and what moving them k codes could reach."""
    bits = 6
    top = 2**bits - 1
    pc = hamq.popcount(torch.arange(top + 1), bits)
    for path in args.runs:
        model = load_run(Path(path))[0]
        print("==", path)
        all_codes = []
        for layer in hamq._bit_layers(model):
            w = layer.weight.detach()
            scale = layer.weight_scale().view(-1, *([1] * (w.dim() - 1)))
            q = torch.round((w / scale).abs().clamp(max=1) * top).long().flatten()
            print(
                f"  {layer.layer_name:<22} n={q.numel():6d} mean code {q.float().mean():5.1f}  "
                f"ON {float(pc[q].float().mean()) / bits:.3f}  zero {float((q == 0).float().mean()):.2f}  "
                f"max/std {float(w.abs().max()) / float(w.std()):.2f}"
            )
            all_codes.append(q)
        q = torch.cat(all_codes)
        print(f"  all: mean popcount {float(pc[q].float().mean()):.3f}")
        for k in (1, 2, 4, 8, 16):
            reach = torch.stack(
                [pc[max(0, c - k) : min(top, c + k) + 1].min() for c in range(top + 1)]
            ).float()
            print(
                f"  oracle, lowest popcount within {k:2d} codes: mean popcount {float(reach[q].mean()):.3f}"
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train")
    t.add_argument("tag")
    t.add_argument("--lam", type=float, required=True)
    t.add_argument("--epochs", type=int, default=12)
    t.add_argument("--lr", type=float, default=5e-4)
    t.add_argument("--no-ramp", action="store_true", help="constant lambda (no LAMBDA_WARMUP)")
    t.add_argument("--input-bits", action="store_true", help="WEIGHT_BY_INPUT_BITS")
    t.add_argument("--clip", default="std", choices=["none", "std", "fixed"])
    t.add_argument("--clip-value", type=float, default=2.5)
    t.add_argument("--seed", type=int, default=None)
    t.add_argument("--fp", required=True, help="a kws_hamq recipe run (its fp/ folder is the teacher)")
    t.add_argument("--data-dir", required=True)
    t.add_argument("--out", default="runs/hamq_variants")
    m = sub.add_parser("measure")
    m.add_argument("models", nargs="+", help="NAME=RUN_DIR; the first is the reference (the twin)")
    m.add_argument("--instances", type=int, default=10)
    m.add_argument("--samples", type=int, default=64)
    m.add_argument("--accelerator", default="hamq-bitcell")
    m.add_argument("--data-dir", required=True)
    m.add_argument("--json")
    c = sub.add_parser("codes")
    c.add_argument("runs", nargs="+")
    args = ap.parse_args()
    torch.set_num_threads(1)
    {"train": train, "measure": measure, "codes": codes}[args.command](args)


if __name__ == "__main__":
    main()
