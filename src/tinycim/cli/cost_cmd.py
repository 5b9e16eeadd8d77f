"""`tinycim cost` and `tinycim accelerators`: energy, latency, area and TOPS/W from the command line."""
from __future__ import annotations

import json

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("cost")(cost)
    app.command("accelerators")(accelerators)


def accelerators(json_out: bool = typer.Option(False, "--json", help="Print the presets' full JSON.")) -> None:
    """List the accelerator presets of the cost model."""
    from tinycim.cost import ACCELERATORS, get_accelerator

    for name in sorted(ACCELERATORS):
        acc = get_accelerator(name)
        if json_out:
            print(acc.to_json())
        else:
            a = acc.array
            print(f"{name:<10} {acc.execution:<13} {a.cores} x {a.rows}x{a.cols} arrays, {acc.adc.kind} ADC")


def cost(
    model: str = typer.Option("analognet_kws", help="Model name from the zoo (tinycim.models.list_models())."),
    accelerator: str = typer.Option("aon-cim", help="Accelerator preset: aon-cim, hermes."),
    act_bits: int = typer.Option(8, "--act-bits", help="Activation (DAC/ADC) bits, 1..16."),
    run: str = typer.Option(None, "--run", help="Training run directory (model.safetensors + config.json)."),
    polarity: str = typer.Option(None, help="differential or unipolar (digital models only)."),
    periphery: str = typer.Option(None, help="uniform or per-layer (default: from the model's config)."),
    plot: str = typer.Option(None, help="Write the per-layer energy breakdown to this PNG."),
    json_out: bool = typer.Option(False, "--json", help="Print the full report as JSON."),
) -> None:
    """Estimate energy per inference, latency, area and TOPS/W of a model on an accelerator."""
    from tinycim.cost import estimate

    target = _load_run(run) if run else model
    report = estimate(target, accelerator, act_bits=act_bits, polarity=polarity, periphery=periphery)
    if run:
        report.model = run
    if plot:
        report.plot(plot)
    if json_out:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(report.summary())


def _load_run(run_dir: str):
    """The analog model of a training run (tinycim.train.load_run + to_analog, imported lazily: the
    training module is optional), with the converter ranges it learned."""
    from tinycim.errors import ConfigError

    try:
        from tinycim.train import load_run, to_analog  # type: ignore[attr-defined]
    except ImportError:
        raise ConfigError("--run needs tinycim.train.load_run, which this installation does not have") from None
    model, _hwa, analog_config, _meta = load_run(run_dir)
    return to_analog(model, analog_config)
