"""``tinyml``: plain conv stacks for KWS / VWW / HAR, built with :class:`tinycim.models.PlainCNN`.

An arch is ``{"layers": [{"channels", "kernel", "stride"}, ...]}``: depth (number of conv layers),
per-layer width, kernel and stride. Inputs may be 1-D ([C, T], e.g. HAR [9, 128]) or 2-D
([C, H, W], e.g. KWS MFCC [1, 49, 10]); 2-D kernels are square. Plain convs (no depthwise) because
a depthwise layer maps badly onto a crossbar (seed paper A).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
from torch import nn

from tinycim.errors import ConfigError
from tinycim.models import PlainCNN
from tinycim.models.builders import input_norm_params
from tinycim.nas.space import Arch, SearchSpace, check_in, choice, nearest, step_choice

__all__ = ["TinyMLSpace"]

_LAYER_GENES = ("channels", "kernel", "stride")


class TinyMLSpace(SearchSpace):
    """Plain CNN space: ``min_layers..max_layers`` conv-BN-ReLU layers, global pool, linear head.

    Encoding (length ``1 + len(layer_genes) * max_layers``): depth, then (channels, kernel, stride)
    per layer slot, zeros for slots beyond the depth. ``input_norm``: every candidate standardizes
    its input digitally first (PlainCNN's ``input_norm``: ``True`` / ``"channel"`` per input channel,
    e.g. HAR; ``"feature"`` per entry of the last axis, e.g. the coefficients of KWS MFCCs; not a gene).
    """

    name = "tinyml"
    layer_genes: tuple[str, ...] = _LAYER_GENES

    def __init__(
        self,
        input_shape: Sequence[int] = (9, 128),
        num_classes: int = 6,
        *,
        widths: Sequence[int] = (8, 12, 16, 24, 32, 48, 64, 96, 128),
        kernels: Sequence[int] = (3, 5, 7),
        strides: Sequence[int] = (1, 2),
        min_layers: int = 1,
        max_layers: int = 6,
        input_norm: bool | str = False,
    ):
        self.input_shape = tuple(int(s) for s in input_shape)
        if len(self.input_shape) not in (2, 3):
            raise ConfigError(f"tinyml space needs a [C, T] or [C, H, W] input, got {self.input_shape}")
        if not 1 <= min_layers <= max_layers:
            raise ConfigError(f"need 1 <= min_layers <= max_layers, got {min_layers}, {max_layers}")
        self.num_classes = int(num_classes)
        self.widths = tuple(sorted(int(w) for w in widths))
        self.kernels = tuple(sorted(int(k) for k in kernels))
        self.strides = tuple(sorted(int(s) for s in strides))
        self.min_layers, self.max_layers = int(min_layers), int(max_layers)
        self.dims = len(self.input_shape) - 1
        input_norm_params(input_norm, self.input_shape)  # validates the value
        # "channel" is stored as True, PlainCNN's spelling of it: saved runs and store headers written
        # before "feature" existed keep matching.
        self.input_norm = True if input_norm == "channel" else (input_norm or False)

    # ---- genes -------------------------------------------------------------------------------
    def gene_options(self, gene: str) -> tuple:
        """The allowed values of one per-layer gene, in order (neighbours are one mutation step apart)."""
        return {"channels": self.widths, "kernel": self.kernels, "stride": self.strides}[gene]

    def _layer(self, rng: np.random.Generator) -> dict[str, Any]:
        return {g: choice(rng, self.gene_options(g)) for g in self.layer_genes}

    def sample(self, rng: np.random.Generator) -> Arch:
        depth = int(rng.integers(self.min_layers, self.max_layers + 1))
        return {"layers": [self._layer(rng) for _ in range(depth)]}

    def mutate(self, arch: Arch, rng: np.random.Generator, kind: str | None = None) -> Arch:
        kind = self._pick_kind(rng, kind)
        layers = [dict(layer) for layer in arch["layers"]]
        i = int(rng.integers(len(layers)))
        if kind == "width":
            if rng.random() < 0.5:  # one layer's width
                layers[i]["channels"] = step_choice(rng, self.widths, layers[i]["channels"])
            else:  # the whole net one width step wider or narrower (a widening factor)
                up = bool(rng.random() < 0.5)
                for layer in layers:
                    j = self.widths.index(layer["channels"]) + (1 if up else -1)
                    layer["channels"] = self.widths[min(max(j, 0), len(self.widths) - 1)]
        elif kind == "depth":
            grow = len(layers) < self.max_layers and (len(layers) <= self.min_layers or rng.random() < 0.5)
            if grow:  # a copy of a neighbour at stride 1 keeps the shape flow sensible
                layers.insert(i + 1, {**layers[i], "stride": self.strides[0]})
            elif len(layers) > self.min_layers:
                layers.pop(i)
        else:  # other: kernel size, stride (or a subclass's extra genes) of one layer
            gene = choice(rng, [g for g in self.layer_genes if g != "channels"])
            layers[i][gene] = step_choice(rng, self.gene_options(gene), layers[i][gene])
        return {"layers": layers}

    def validate(self, arch: Arch) -> None:
        if set(arch) != {"layers"}:
            raise ConfigError(f"tinyml arch needs exactly the key 'layers', got {sorted(arch)}")
        layers = arch["layers"]
        if not self.min_layers <= len(layers) <= self.max_layers:
            raise ConfigError(f"depth {len(layers)} outside {self.min_layers}..{self.max_layers}")
        for n, layer in enumerate(layers):
            if set(layer) != set(self.layer_genes):
                raise ConfigError(f"layers[{n}] needs keys {self.layer_genes}, got {sorted(layer)}")
            for g in self.layer_genes:
                check_in(f"layers[{n}].{g}", layer[g], self.gene_options(g))

    # ---- encoding ----------------------------------------------------------------------------
    @property
    def feature_names(self) -> list[str]:
        return ["depth"] + [f"l{i}_{g}" for i in range(self.max_layers) for g in self.layer_genes]

    def _gene_value(self, gene: str, value: Any) -> float:
        """Numeric code of a gene value: the value itself for numbers, the option index otherwise."""
        if isinstance(value, (int, float)):
            return float(value)
        return float(self.gene_options(gene).index(value))

    def encode(self, arch: Arch) -> np.ndarray:
        n = len(self.layer_genes)
        vec = np.zeros(1 + n * self.max_layers)
        vec[0] = len(arch["layers"])
        for i, layer in enumerate(arch["layers"]):
            vec[1 + n * i : 1 + n * (i + 1)] = [self._gene_value(g, layer[g]) for g in self.layer_genes]
        return vec

    def decode(self, vector: Sequence[float]) -> Arch:
        n = len(self.layer_genes)
        vec = np.asarray(vector, dtype=float)
        if vec.shape != (1 + n * self.max_layers,):
            raise ConfigError(
                f"{self.name} vector must have length {1 + n * self.max_layers}, got {vec.shape}"
            )
        depth = int(round(vec[0]))
        if not self.min_layers <= depth <= self.max_layers:
            raise ConfigError(f"encoded depth {vec[0]} outside {self.min_layers}..{self.max_layers}")
        layers = []
        for i in range(depth):
            layer = {}
            for j, g in enumerate(self.layer_genes):
                opts, v = self.gene_options(g), vec[1 + n * i + j]
                layer[g] = (
                    int(nearest(opts, v))
                    if isinstance(opts[0], (int, float))
                    else opts[int(nearest(range(len(opts)), v))]
                )
            layers.append(layer)
        return {"layers": layers}

    # ---- models ------------------------------------------------------------------------------
    def build(self, arch: Arch) -> nn.Module:
        self.validate(arch)
        return PlainCNN(
            self.input_shape,
            self.num_classes,
            [{g: layer[g] for g in _LAYER_GENES} for layer in arch["layers"]],
            input_norm=self.input_norm,
        )

    def zoo_spec(self, arch: Arch) -> tuple[str, dict[str, Any]]:
        """(registered model name, kwargs) that rebuild ``arch`` with ``create_model``, so a saved run
        loads with ``tinycim.train.load_run`` / ``tinycim drift``: the zoo's PlainCNN subclasses take
        ``layers`` and ``input_shape`` (har_cnn for [C, T], kws_cnn5 for [C, H, W])."""
        kwargs = {
            "num_classes": self.num_classes,
            "input_shape": list(self.input_shape),
            "layers": [{g: layer[g] for g in _LAYER_GENES} for layer in arch["layers"]],
        }
        kwargs["input_norm"] = self.input_norm  # always: the zoo default may differ (har_cnn standardizes)
        return ("har_cnn" if self.dims == 1 else "kws_cnn5", kwargs)

    def count_params(self, arch: Arch) -> int:
        """Conv weights (no bias: BN follows) + BN scale/shift + linear head, as PlainCNN builds them."""
        total, width = input_norm_params(self.input_norm, self.input_shape), self.input_shape[0]
        for layer in arch["layers"]:
            c, k = int(layer["channels"]), int(layer["kernel"])
            total += width * c * k**self.dims + 2 * c
            width = c
        return total + width * self.num_classes + self.num_classes

    def count_macs(self, arch: Arch) -> int:
        """Useful conv + linear MACs per sample (same-padding ``k//2``: out = floor((n - 1) / s) + 1)."""
        sizes, width, total = list(self.input_shape[1:]), self.input_shape[0], 0
        for layer in arch["layers"]:
            c, k, s = int(layer["channels"]), int(layer["kernel"]), int(layer["stride"])
            sizes = [(n - 1) // s + 1 for n in sizes]
            total += width * c * k**self.dims * math.prod(sizes)
            width = c
        return total + width * self.num_classes

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "widths": list(self.widths),
            "kernels": list(self.kernels),
            "strides": list(self.strides),
            "min_layers": self.min_layers,
            "max_layers": self.max_layers,
            "input_norm": self.input_norm,
        }
