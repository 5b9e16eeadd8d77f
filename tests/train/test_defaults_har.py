import torch

from tinycim.data import Dataset
from tinycim.data.har import CLASSES
from tinycim.data.har_augment import augment_windows
from tinycim.workflow import fp_augmentation


def har_windows(n=12, features=(9, 128)):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, *features, generator=g)
    return Dataset(x, torch.arange(n) % len(CLASSES), classes=CLASSES, name="hapt", split="train")


def test_har_windows_train_on_window_augmentation():
    train = har_windows()
    for dataset in ("hapt", "uci_har"):
        ds, augment, how = fp_augmentation(dataset, None, 0, {}, train)
        assert ds is train and augment is augment_windows
        assert how is not None and "rotation" in how
    # the 561 engineered features are not windows: no augmentation
    feats = har_windows(features=(561,))
    assert fp_augmentation("uci_har", None, 0, {"features": "561"}, feats) == (feats, None, None)
