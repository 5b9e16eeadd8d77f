"""A HamQ recipe's comparison: the hardware-aware twin trained without the regularizer, and both
models' ON bit-cells, energy and 1-day accuracy."""

from __future__ import annotations

from tinycim.pipeline.hardware import phase_configs, recipe_chip
from tinycim.pipeline.runner import COST_SAMPLES, ONE_DAY_S, _fresh, _train_phase


def hamq_comparison(
    recipe,
    hwa,
    hwa_cfg,
    hwa_prepared,
    fp_model,
    data,
    out,
    steps,
    drift_args,
    progress,
    estimate,
    input_shape,
) -> dict:
    """Train the twin without the regularizer and compare ON cells, energy and 1-day accuracy."""
    from tinycim.train import evaluate_drift, on_cell_fraction, to_analog

    base_hwa, twin_cfg = phase_configs(recipe.hwa_baseline, recipe_chip(recipe))
    start = (lambda: _fresh(recipe, data)) if recipe.hwa_baseline.init == "scratch" else (lambda: fp_model)
    twin, _ = _train_phase(
        "hwa_baseline",
        recipe.hwa_baseline,
        start,
        base_hwa,
        recipe,
        data,
        out,
        steps,
        twin_cfg,
        progress,
        teacher=fp_model,
    )

    def measure(model, cfg) -> dict:
        # costed on a fresh, unprogrammed copy: evaluate_drift leaves its model programmed and drifted,
        # and programmed OFF cells carry programming noise (115 against 33.9 nJ of cell reads on kws_hamq)
        cost = estimate(
            to_analog(model, cfg),
            recipe.accelerator or "aon-cim",
            input_shape=input_shape,
            act_bits=recipe.act_bits[0],
            inputs=data["test"].x[:COST_SAMPLES],
        )
        one_day = evaluate_drift(to_analog(model, cfg), data["test"], **{**drift_args, "times": [ONE_DAY_S]})
        return {
            "on_cell_fraction": on_cell_fraction(model),
            "acc_1d": one_day.mean[0],
            "energy_per_inference_j": cost.energy_per_inference_j,
            "array_energy_j": cost.energy_by_component_j.get("array", 0.0),
        }

    hamq = steps.get("hamq_measure", lambda: measure(hwa_prepared, hwa_cfg))
    twin_m = steps.get("hamq_baseline_measure", lambda: measure(twin, twin_cfg))
    return {
        "hamq": hamq,
        "baseline": twin_m,
        "lambda": hwa.hamq_lambda,
        "on_cell_reduction_pct": 100 * (1 - hamq["on_cell_fraction"] / twin_m["on_cell_fraction"]),
        "energy_reduction_pct": 100 * (1 - hamq["energy_per_inference_j"] / twin_m["energy_per_inference_j"]),
        "array_energy_reduction_pct": 100
        * (1 - hamq["array_energy_j"] / max(twin_m["array_energy_j"], 1e-30)),
        "acc_drop_pp": twin_m["acc_1d"] - hamq["acc_1d"],
    }
