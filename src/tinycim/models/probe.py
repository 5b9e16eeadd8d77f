"""Run a model once, read-only, with forward hooks: what MAC counting and the cost model both need."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

Hook = Callable[[nn.Module, tuple, object], None]


def probe(model: nn.Module, x: torch.Tensor, hooks: dict[nn.Module, Hook]) -> None:
    """`model(x)` once in eval mode without gradients, with `hooks[module]` as forward hooks.

    Training mode is restored and the hooks removed afterwards, so BatchNorm statistics and the
    model's state are left untouched.
    """
    handles = [module.register_forward_hook(hook) for module, hook in hooks.items()]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(x)
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
