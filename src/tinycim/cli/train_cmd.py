"""`tinycim train`: a thin wrapper over `tinycim.workflow` (`tinycim drift` is in eval_cmd).

train: plain training (no option), the default hardware-aware recipe (`--hwa`: FP pre-training,
then hardware-aware fine-tuning on the analog config with the `pcm` recipe at a quarter of the FP
learning rate), or full control (`--config` YAML/JSON with sections "hwa" (preset name or
fields), "train", "pretrain", "analog" (preset name, fields, or {"preset": name, ...fields}),
"data" (loader options such as split_by), "distill" (bool)). Values in the file win over the
CLI's defaults; an option given on the command line wins over the file.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any, Optional

import typer

from tinycim.errors import ConfigError

CONFIG_SECTIONS = ("hwa", "train", "pretrain", "analog", "data", "distill", "model")


def parse_times(text: str) -> list[tuple[str, float]]:
    """ "1s,1h,1d,30d,1y" -> [(label, seconds)]; a bare number is seconds (see tinycim.units)."""
    from tinycim.units import parse_duration

    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise ConfigError("--times is empty: allowed a comma-separated list such as 1s,1h,1d")
    try:
        return [(item, parse_duration(item)) for item in items]
    except ConfigError as err:
        raise ConfigError(f"--times: {err}") from None


def read_config_file(path: Path) -> dict[str, Any]:
    """A YAML or JSON object with the sections in CONFIG_SECTIONS (size and YAML-alias limits of
    tinycim.io; errors name the file)."""
    from tinycim.io import read_config_text, safe_yaml

    owner = f"--config {path}"
    text = read_config_text(path, "--config")
    if path.suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ConfigError(f"{owner}: not valid JSON ({err})") from None
    else:
        data = safe_yaml(text, owner)
    data = data or {}
    if not isinstance(data, dict) or set(data) - set(CONFIG_SECTIONS):
        bad = sorted(set(data) - set(CONFIG_SECTIONS)) if isinstance(data, dict) else data
        raise ConfigError(f"{owner}: unknown section(s) {bad}: allowed {', '.join(CONFIG_SECTIONS)}")
    for section in ("train", "pretrain", "data", "model"):  # mappings of fields (hwa/analog: also a name)
        if data.get(section) is not None and not isinstance(data[section], dict):
            raise ConfigError(
                f"{owner}: section {section!r} = {data[section]!r} is invalid: allowed a mapping of fields"
            )
    return data


def analog_from_spec(spec: Any, owner: str):
    """An AnalogConfig from a preset name, a full dict, or {"preset": name, <sections to override>}."""
    from tinycim.config import AnalogConfig

    if isinstance(spec, str):
        return AnalogConfig.preset(spec)
    if not isinstance(spec, dict):
        raise ConfigError(f"{owner} = {spec!r} is invalid: a preset name or a mapping of fields")
    if "preset" in spec:
        rest = {k: v for k, v in spec.items() if k != "preset"}
        base = AnalogConfig.preset(spec["preset"])
        layers = rest.pop("layers", None)
        cfg = base.for_layer("") if not rest else base._apply(rest, owner)  # sections override the preset
        import dataclasses

        return dataclasses.replace(cfg, layers=layers or {}) if cfg is not None else base
    return AnalogConfig.from_dict(spec)


def default_options(model: str) -> dict[str, Any]:
    """The keyword defaults a zoo factory itself sets (e.g. ``{"input_norm": True}`` for
    ``har_cnn``): a run records them next to the options it was given, so it is rebuilt the same
    way if a default changes later."""
    import inspect

    from tinycim.models import get_model_spec

    params = inspect.signature(get_model_spec(model).factory).parameters.values()
    return {
        p.name: p.default
        for p in params
        if p.default is not p.empty and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
    }


def _load_split(dataset: str, data_dir: Optional[Path], split: str, seed: int, opts: dict[str, Any]):
    from tinycim.data import load

    return load(dataset, data_dir, split, seed=seed, **opts)


def train_cmd(
    model: str = typer.Option(..., "--model", help="Model name (see tinycim.models.list_models())."),
    dataset: str = typer.Option(..., "--dataset", help="Dataset name (tinycim.data.list_datasets())."),
    data_dir: Optional[Path] = typer.Option(
        None, "--data-dir", help="Dataset folder (not needed for digits)."
    ),
    epochs: Optional[int] = typer.Option(
        None,
        "--epochs",
        help="Epochs of the run's phase and, with --hwa, of the "
        "FP pre-training [default: DEFAULT_FP_TRAIN's 30; with --hwa 30 + 20].",
    ),
    seed: Optional[int] = typer.Option(
        None, "--seed", help="Seed of data splits, init, shuffling and noise [default: 0]."
    ),
    hwa: bool = typer.Option(False, "--hwa", help="Default hardware-aware recipe for the pcm preset."),
    config: Optional[Path] = typer.Option(
        None, "--config", help="YAML/JSON file: hwa, train, pretrain, analog, data, distill, model."
    ),
    out: Path = typer.Option(..., "--out", help="Run directory to write."),
    resume: bool = typer.Option(False, "--resume", help="Continue a killed run from its last checkpoint."),
    lr: Optional[float] = typer.Option(
        None,
        "--lr",
        help="Learning rate of the run's phase [default: the FP "
        "policy's; with --hwa a quarter of the FP rate].",
    ),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Batch size."),
    pretrain_epochs: Optional[int] = typer.Option(
        None, "--pretrain-epochs", help="FP epochs before HWA (default --epochs)."
    ),
    split_by: Optional[str] = typer.Option(
        None, "--split-by", help="Dataset split option (speech_commands: speaker)."
    ),
    tensorboard: bool = typer.Option(
        False, "--tensorboard", help="Also write TensorBoard event files to RUN/tb (needs tinycim[tb])."
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
    device: Optional[str] = typer.Option(
        None, "--device", help="cpu, cuda or cuda:N [default: cuda when available, else cpu]."
    ),
) -> None:
    """Train a model; write model.safetensors, config.json and metrics.json to --out."""
    from tinycim.io import output_lock

    if tensorboard:
        from tinycim.tblog import _require_tensorboard

        _require_tensorboard()  # before any training, not after it
    with output_lock(out):  # a second writer into the same --out gets a one-line error
        _train(
            model,
            dataset,
            data_dir,
            epochs,
            seed,
            hwa,
            config,
            out,
            resume,
            lr,
            batch_size,
            pretrain_epochs,
            split_by,
            progress,
            tensorboard,
            resolve_device(device),
        )


def train_configs(
    hwa: bool,
    spec: dict[str, Any],
    epochs: int | None,
    seed: int | None,
    lr: float | None,
    batch_size: int | None,
    pretrain_epochs: int | None,
):
    """(TrainConfig of the phase that writes the run, FP pre-training TrainConfig or None).

    Starts from the default recipe (`tinycim.train.config.train_defaults`); the file's "train"
    section changes the run's phase and "pretrain" the FP phase (a "train" field other than
    epochs and lr applies to both); command-line options win over both. Without an explicit
    learning rate for it, fine-tuning runs at HWA_LR_FRACTION of the FP rate.
    """
    from tinycim.train import TrainConfig
    from tinycim.train.config import HWA_LR_FRACTION, train_defaults

    file_train = dict(spec.get("train", {}) or {})
    file_pre = dict(spec.get("pretrain", {}) or {})
    main_default, pre_default = train_defaults(hwa)
    common = {"seed": seed if seed is not None else file_train.get("seed", 0)}  # TrainConfig checks it
    if batch_size is not None:
        common["batch_size"] = batch_size
    main = {**main_default.to_dict(), **file_train, **common}
    if epochs is not None:
        main["epochs"] = epochs
    if lr is not None:
        main["lr"] = lr
    if not hwa:
        return TrainConfig.from_dict(main), None
    shared = {k: v for k, v in file_train.items() if k not in ("epochs", "lr")}
    assert pre_default is not None  # the hardware-aware recipe has an FP phase
    pre = {**pre_default.to_dict(), **shared, **common, **file_pre}
    if pretrain_epochs is not None:
        pre["epochs"] = pretrain_epochs
    elif epochs is not None and "epochs" not in file_pre:
        pre["epochs"] = epochs
    pre_cfg = TrainConfig.from_dict(pre)
    if lr is None and "lr" not in file_train:  # fine-tuning at the FP rate can collapse (docs/training.md)
        main["lr"] = pre_cfg.lr * HWA_LR_FRACTION
    return TrainConfig.from_dict(main), pre_cfg


def resolve_device(name: Optional[str]) -> str:
    """--device: cpu, cuda or cuda:N; default cuda when available, else cpu."""
    import torch

    if name is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"--device {name!r} is invalid: allowed cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"--device {name}: no CUDA device on this machine (allowed: cpu)")
    if device.type not in ("cpu", "cuda"):
        raise ConfigError(f"--device {name!r} is invalid: allowed cpu, cuda or cuda:N")
    return str(device)


def _train(
    model,
    dataset,
    data_dir,
    epochs,
    seed,
    hwa,
    config,
    out,
    resume,
    lr,
    batch_size,
    pretrain_epochs,
    split_by,
    progress,
    tensorboard=False,
    device="cpu",
) -> None:
    from rich.console import Console

    from tinycim.data import split_record
    from tinycim.models import create_model
    from tinycim.train import HWAConfig
    from tinycim.compat import legacy_hardware, split_legacy
    from tinycim.workflow import RunRecord, fp_augmentation, train_default, train_phase

    console = Console(stderr=True)
    spec = read_config_file(config) if config is not None else {}
    hwa_spec = spec.get("hwa", "pcm" if hwa else None)
    analog = analog_from_spec(spec.get("analog", "pcm"), f"--config {config}: analog")
    hwa_cfg = None
    if isinstance(hwa_spec, str):
        hwa_cfg = HWAConfig.preset(hwa_spec)
    elif isinstance(hwa_spec, dict):  # v1 field names (dac_bits, unipolar, ...) describe the hardware
        train_fields, hardware = split_legacy(hwa_spec)
        hwa_cfg = HWAConfig.from_dict(train_fields)
        analog = legacy_hardware(analog, hardware)
    elif hwa_spec is not None:
        raise ConfigError(
            f"--config {config}: hwa = {hwa_spec!r} is invalid: a preset name or a mapping of fields"
        )
    train_cfg, pre_cfg = train_configs(
        hwa_cfg is not None, spec, epochs, seed, lr, batch_size, pretrain_epochs
    )
    seed = train_cfg.seed
    data_opts = dict(spec.get("data", {}))
    if split_by is not None:
        data_opts["split_by"] = split_by
    distill = spec.get("distill", True)
    if not isinstance(distill, bool):
        raise ConfigError(f"--config {config}: distill = {distill!r} is invalid: allowed true or false")
    run_args: dict[str, Any] = {
        "out_dir": out,
        "resume": resume,
        "record": None,
        "progress": progress,
        "tensorboard": tensorboard,
    }
    train_ds = _load_split(dataset, data_dir, "train", seed, data_opts)
    val_ds = _load_split(dataset, data_dir, "val", seed, data_opts)
    model_opts = spec.get("model", {}) or {}
    if not isinstance(model_opts, dict) or "num_classes" in model_opts:
        raise ConfigError(
            f"--config {config}: section 'model' must map create_model options (e.g. "
            f"input_norm: true) to values; num_classes comes from the dataset"
        )
    # the zoo's defaults (e.g. har_cnn's input_norm) are recorded, so the run rebuilds the same model
    model_kwargs = {**default_options(model), "num_classes": len(train_ds.classes), **model_opts}
    net = create_model(model, seed=seed, **model_kwargs).to(device)
    extra: dict[str, Any] = split_record(dataset, data_opts, seed)
    tb_hparams: dict[str, Any] = {
        "analog": analog.to_dict(),
        "train": train_cfg.to_dict(),
        "hwa": hwa_cfg.to_dict() if hwa_cfg is not None else "none",
    }
    fp_ds, augment, how = fp_augmentation(dataset, data_dir, seed, data_opts, train_ds)
    if how is not None:
        extra["fp_augmentation"] = how
    run_args["record"] = RunRecord(model, model_kwargs, extra)
    with warnings.catch_warnings(record=True) as caught:  # e.g. the collapse warning: one line, not an error
        warnings.simplefilter("always", UserWarning)
        if hwa_cfg is None:  # plain training is the FP phase
            _, result = train_phase(net, fp_ds, val_ds, train_cfg, analog=analog, augment=augment, **run_args)
        else:
            assert pre_cfg is not None
            tb_hparams["pretrain"] = pre_cfg.to_dict()
            result = train_default(
                net,
                train_ds,
                val_ds,
                pre_cfg,
                train_cfg,
                hwa_cfg,
                analog,
                distill=distill,
                fp_train=(fp_ds, augment),
                log=console.print,
                **run_args,
            ).result
    for w in caught:
        console.print(f"warning: {w.message}")
    if tensorboard:
        from tinycim.tblog import TensorBoardLogger

        metrics = {
            "val/best_accuracy": result.best_val_acc if result.best_val_acc is not None else float("nan")
        }
        with TensorBoardLogger(out / "tb") as tb:
            tb.hparams(tb_hparams, metrics)
    kept = f"; kept epoch {result.restored_epoch}" if result.restored_epoch is not None else ""
    console.print(
        f"done: final val acc {result.final_val_acc} %, best {result.best_val_acc} % "
        f"(epoch {result.best_epoch}{kept}); wrote {out}"
    )


def register(app: typer.Typer) -> None:
    """Add `train` to the root app."""
    app.command("train")(train_cmd)
