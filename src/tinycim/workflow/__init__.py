"""One library workflow for `tinycim train`, `tinycim run` and NAS: training phases (plain or
hardware-aware), the default two-phase recipe, and run directories.

    from tinycim.workflow import RunRecord, train_default, load_run
    trained = train_default(model, train_ds, val_ds, DEFAULT_FP_TRAIN, DEFAULT_HWA_TRAIN,
                            HWAConfig.preset("pcm"), AnalogConfig.preset("pcm"), out_dir="runs/x",
                            record=RunRecord("har_cnn", {"num_classes": 6}))
    model, hwa, analog, meta = load_run("runs/x")
"""

from tinycim.workflow.runs import load_run, save_run
from tinycim.workflow.phases import RunRecord, Trained, fp_augmentation, train_default, train_phase

__all__ = ["RunRecord", "Trained", "fp_augmentation", "load_run", "save_run", "train_default", "train_phase"]
