"""Shared by device_fit.py and device_faults.py: a small model trained FP32, then hardware-aware.

Not a benchmark itself. Uses only tinycim.data / models / train public APIs.
"""

from __future__ import annotations

import dataclasses


from tinycim.data import load
from tinycim.models import create_model
from tinycim.train import HWAConfig, TrainConfig, fit, prepare, to_digital

TASKS = {  # dataset -> (model, loader options, FP lr, HWA lr, batch size); digits as recipes/quickstart.yaml
    "digits": ("digits_cnn", {}, 1e-2, 3e-3, 64),
    "speech_commands": ("analognet_kws", {"split_by": "speaker"}, 2e-3, 5e-4, 128),
}


def splits(dataset: str, data_dir: str | None, seed: int):
    opts = TASKS[dataset][1]
    return tuple(load(dataset, data_dir, s, seed=seed, **opts) for s in ("train", "val", "test"))


def train_fp(dataset: str, train, val, epochs: int, seed: int):
    model_name, _, lr, _, batch = TASKS[dataset]
    kwargs = {"num_classes": len(train.classes)}
    if dataset != "digits":
        kwargs["input_norm"] = True
    else:  # the quickstart recipe's wider digits CNN (recipes: quickstart.yaml)
        kwargs["layers"] = [{"channels": 32, "kernel": 3, "pool": 2}, {"channels": 64, "kernel": 3}]
    net = prepare(create_model(model_name, seed=seed, **kwargs), HWAConfig(), analog="ideal")
    fit(net, train, val, TrainConfig(epochs=epochs, lr=lr, batch_size=batch, seed=seed), progress=False)
    return to_digital(net)


def train_hwa(dataset: str, fp, analog, train, val, epochs: int, seed: int):
    """Fine-tune `fp` hardware-aware on `analog` (an AnalogConfig): device noise from its device."""
    _, _, _, lr, batch = TASKS[dataset]
    hwa = dataclasses.replace(HWAConfig.preset("pcm"), noise_per="column")
    prepared = prepare(fp, hwa, analog=analog, seed=seed)
    fit(
        prepared,
        train,
        val,
        TrainConfig(epochs=epochs, lr=lr, batch_size=batch, seed=seed),
        teacher=fp,
        progress=False,
    )
    return prepared


def pcm_config():
    """The pcm preset with per-column weight ranges (as the quickstart recipe)."""
    import tinycim as tc

    cfg = tc.AnalogConfig.preset("pcm")
    return dataclasses.replace(cfg, mapping=dataclasses.replace(cfg.mapping, weight_range="column"))
