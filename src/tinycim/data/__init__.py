"""Dataset readers: standard public datasets in their standard on-disk formats, never downloaded.

    ds = tinycim.data.load("speech_commands", "/data/speech_commands_v0.02", "train", seed=0)
    ds.x, ds.y, ds.classes, ds.input_shape       # a torch TensorDataset with metadata
    report = tinycim.data.check("cifar10", "/data/cifar-10-batches-bin")
    report = tinycim.data.check("speech_commands", "/data/sc_test_set", split_by="speaker")

Names: see `list_datasets()`; each one's loader options: `dataset_options(name)`. Splits: train,
val, test, all (every sample in the folder).

Nothing wrong passes silently: every reader checks the values it reads (finite, in range, the
right dtype) and names the file and row of a bad one; paths named inside a dataset stay inside
its folder; duplicate and unlisted files are bad files; only regular files are opened (a FIFO
never blocks); an empty train split (or a Speech Commands one without word clips) is refused
with advice; `check` reports degenerate splits (missing train, classes missing from a split).
Derived features are cached in the user cache folder (`$TINYCIM_CACHE_DIR` or platformdirs),
never in the dataset folder; a corrupt cache entry is recomputed.
"""

from tinycim.data.dataset import SPLITS, CheckReport, DataWarning, Dataset, MissingSplitError
from tinycim.data.registry import (
    DatasetInfo,
    check,
    dataset_info,
    dataset_options,
    list_datasets,
    load,
    split_record,
)

__all__ = [
    "SPLITS",
    "CheckReport",
    "DataWarning",
    "Dataset",
    "DatasetInfo",
    "MissingSplitError",
    "check",
    "dataset_info",
    "dataset_options",
    "list_datasets",
    "load",
    "split_record",
]
