"""Dataset readers: standard public datasets in their standard on-disk formats, never downloaded.

    ds = tinycim.data.load("speech_commands", "/data/speech_commands_v0.02", "train", seed=0)
    ds.x, ds.y, ds.classes, ds.input_shape       # a torch TensorDataset with metadata
    report = tinycim.data.check("cifar10", "/data/cifar-10-batches-bin")

Names: see `list_datasets()`. Splits: train, val, test, all (every sample in the folder).
"""
from tinycim.data.dataset import SPLITS, CheckReport, DataWarning, Dataset, MissingSplitError
from tinycim.data.registry import DatasetInfo, check, dataset_info, list_datasets, load, split_record

__all__ = ["SPLITS", "CheckReport", "DataWarning", "Dataset", "DatasetInfo", "MissingSplitError", "check",
           "dataset_info", "list_datasets", "load", "split_record"]
