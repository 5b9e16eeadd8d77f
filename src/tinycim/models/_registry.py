"""Model registry, in the manner of timm.

Factories register with ``@register_model``; ``tinycim.models.__init__`` imports every family module
explicitly, so the registry is complete and deterministic after ``import tinycim.models`` (no discovery
by scanning or importing arbitrary modules).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Callable

from torch import nn

from tinycim.errors import ConfigError

__all__ = ["ModelSpec", "register_model", "create_model", "list_models", "get_model_spec", "is_model"]


@dataclass(frozen=True)
class ModelSpec:
    """What the registry knows about one model without building it.

    ``target_params`` is the documented parameter count (``None`` where nothing is documented) and
    ``param_tol`` the relative tolerance the test suite allows around it.
    """

    name: str
    factory: Callable[..., nn.Module]
    source: str = ""
    target_params: int | None = None
    param_tol: float = 0.05


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(
    fn: Callable[..., nn.Module] | None = None,
    *,
    name: str | None = None,
    source: str = "",
    target_params: int | None = None,
    param_tol: float = 0.05,
):
    """Register a model factory under its function name (or ``name``).

    Usable bare (``@register_model``) or with metadata
    (``@register_model(source="...", target_params=179_000)``). Registering a name twice is an error:
    it would make the registry depend on import order.
    """

    def _wrap(f: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        key = name or f.__name__
        if key in _REGISTRY:
            raise ConfigError(f"model {key!r} is already registered")
        _REGISTRY[key] = ModelSpec(key, f, source, target_params, param_tol)
        return f

    return _wrap(fn) if fn is not None else _wrap


def list_models(pattern: str = "*") -> list[str]:
    """Sorted names of registered models matching the fnmatch ``pattern`` (e.g. ``"resnet*"``)."""
    return sorted(n for n in _REGISTRY if fnmatch.fnmatchcase(n, pattern))


def is_model(name: str) -> bool:
    """Whether `name` is a registered zoo model."""
    return name in _REGISTRY


def get_model_spec(name: str) -> ModelSpec:
    """The registry entry (factory, source, input shape) of zoo model `name`."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown model {name!r}; available: {', '.join(list_models())}") from None


def create_model(
    name: str, num_classes: int | None = None, *, seed: int | None = None, **kwargs
) -> nn.Module:
    """Build registered model ``name``. ``num_classes=None`` keeps the model's default head size;
    ``seed`` draws the initial weights from that seed (the global torch RNG is left as it was);
    other keyword arguments (``in_channels``, ``act_layer``, ``norm_layer``, ``conv_layer``,
    ``linear_layer``, ...) go to the model's constructor unchanged."""
    spec = get_model_spec(name)
    if num_classes is not None:
        kwargs["num_classes"] = num_classes
    if seed is not None:
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise ConfigError(f"seed = {seed!r} is invalid: allowed an integer >= 0")
        import torch

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return create_model(name, **kwargs)
    try:
        return spec.factory(**kwargs)
    except TypeError as err:
        if "unexpected keyword argument" not in str(err):
            raise
        # a misspelled option from a config file: name it instead of a constructor traceback
        bad = str(err).rsplit("keyword argument", 1)[-1].strip()
        raise ConfigError(f"model {name!r} has no option {bad} (options given: {sorted(kwargs)})") from None
