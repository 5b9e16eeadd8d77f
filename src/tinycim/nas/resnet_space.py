"""``resnet-like``: the AnalogNAS macro space (Benmeziane et al. 2023), built with
:class:`tinycim.models.ResNetLike`.

An arch is ``{"stem_channels": OC0, "stem_kernel": k, "main_blocks": [{"num_res_blocks": R,
"branches": B, "block_type": "basic"|"bottleneck", "widen_factor": f}, ...]}``. Down-sampling is real:
the builder gives every main block after the first stride 2 (its first residual block carries it).
2-D inputs only ([C, H, W]); use the ``tinyml`` space for 1-D signals.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from torch import nn

from tinycim.errors import ConfigError
from tinycim.models import ResNetLike
from tinycim.models.builders import BLOCK_TYPES
from tinycim.nas.space import Arch, SearchSpace, check_in, choice, nearest, step_choice

__all__ = ["ResNetSpace"]

_BLOCK_GENES = ("num_res_blocks", "branches", "block_type", "widen_factor")
BOTTLENECK_RATIO = 0.25  # ResNetLike's default inner width of a bottleneck branch


class ResNetSpace(SearchSpace):
    """AnalogNAS ResNet-like space. Defaults are the paper's: OC0 in {8,12,16,32,48,64}, M in 1..5,
    R in 1..15, B in 1..4, basic/bottleneck; widening factors and stem kernels are choices of ours.

    Encoding (length ``3 + 4 * max_main_blocks``): OC0, stem kernel, M, then per main-block slot
    (R, B, type 0=basic/1=bottleneck, widen factor), zeros beyond M.
    """

    name = "resnet-like"

    def __init__(
        self,
        input_shape: Sequence[int] = (3, 32, 32),
        num_classes: int = 10,
        *,
        stem_channels: Sequence[int] = (8, 12, 16, 32, 48, 64),
        stem_kernels: Sequence[int] = (3, 5, 7),
        max_main_blocks: int = 5,
        max_res_blocks: int = 15,
        max_branches: int = 4,
        widen_factors: Sequence[float] = (1.0, 1.5, 2.0, 2.5, 3.0),
    ):
        self.input_shape = tuple(int(s) for s in input_shape)
        if len(self.input_shape) != 3:
            raise ConfigError(
                f"resnet-like space needs a [C, H, W] input (use 'tinyml' for 1-D), got {self.input_shape}"
            )
        if not (1 <= max_main_blocks <= 5 and 1 <= max_res_blocks <= 15 and 1 <= max_branches <= 4):
            raise ConfigError(
                "resnet-like limits: max_main_blocks 1..5, max_res_blocks 1..15, max_branches 1..4"
            )
        self.num_classes = int(num_classes)
        self.stem_channels = tuple(sorted(int(c) for c in stem_channels))
        self.stem_kernels = tuple(sorted(int(k) for k in stem_kernels))
        self.main_blocks = tuple(range(1, max_main_blocks + 1))
        self.res_blocks = tuple(range(1, max_res_blocks + 1))
        self.branches = tuple(range(1, max_branches + 1))
        self.widen_factors = tuple(sorted(float(f) for f in widen_factors))

    # ---- genes -------------------------------------------------------------------------------
    def _block(self, rng: np.random.Generator) -> dict[str, Any]:
        return {
            "num_res_blocks": choice(rng, self.res_blocks),
            "branches": choice(rng, self.branches),
            "block_type": choice(rng, BLOCK_TYPES),
            "widen_factor": choice(rng, self.widen_factors),
        }

    def sample(self, rng: np.random.Generator) -> Arch:
        m = choice(rng, self.main_blocks)
        return {
            "stem_channels": choice(rng, self.stem_channels),
            "stem_kernel": choice(rng, self.stem_kernels),
            "main_blocks": [self._block(rng) for _ in range(m)],
        }

    def mutate(self, arch: Arch, rng: np.random.Generator, kind: str | None = None) -> Arch:
        kind = self._pick_kind(rng, kind)
        new = {**arch, "main_blocks": [dict(b) for b in arch["main_blocks"]]}
        blocks = new["main_blocks"]
        i = int(rng.integers(len(blocks)))
        gene = choice(
            rng,
            {
                "width": ("widen_factor", "branches", "stem_channels"),
                "depth": ("num_res_blocks", "main_blocks", "block_type"),
                "other": ("stem_kernel",),
            }[kind],
        )
        if gene == "stem_channels":
            new[gene] = step_choice(rng, self.stem_channels, new[gene])
        elif gene == "stem_kernel":
            new[gene] = step_choice(rng, self.stem_kernels, new[gene])
        elif gene == "block_type":
            blocks[i][gene] = BLOCK_TYPES[1 - BLOCK_TYPES.index(blocks[i][gene])]
        elif gene == "main_blocks":  # add a copy of a main block after it, or drop one
            if len(blocks) < self.main_blocks[-1] and (len(blocks) == 1 or rng.random() < 0.5):
                blocks.insert(i + 1, dict(blocks[i]))
            elif len(blocks) > 1:
                blocks.pop(i)
        else:
            options = {
                "widen_factor": self.widen_factors,
                "branches": self.branches,
                "num_res_blocks": self.res_blocks,
            }[gene]
            blocks[i][gene] = step_choice(rng, options, blocks[i][gene])
        return new

    def validate(self, arch: Arch) -> None:
        if set(arch) != {"stem_channels", "stem_kernel", "main_blocks"}:
            raise ConfigError(
                f"resnet-like arch keys must be stem_channels, stem_kernel, main_blocks; got {sorted(arch)}"
            )
        check_in("stem_channels", arch["stem_channels"], self.stem_channels)
        check_in("stem_kernel", arch["stem_kernel"], self.stem_kernels)
        check_in("number of main blocks", len(arch["main_blocks"]), self.main_blocks)
        for n, b in enumerate(arch["main_blocks"]):
            if set(b) != set(_BLOCK_GENES):
                raise ConfigError(f"main_blocks[{n}] needs keys {_BLOCK_GENES}, got {sorted(b)}")
            check_in(f"main_blocks[{n}].num_res_blocks", b["num_res_blocks"], self.res_blocks)
            check_in(f"main_blocks[{n}].branches", b["branches"], self.branches)
            check_in(f"main_blocks[{n}].block_type", b["block_type"], BLOCK_TYPES)
            check_in(f"main_blocks[{n}].widen_factor", b["widen_factor"], self.widen_factors)

    # ---- encoding ----------------------------------------------------------------------------
    @property
    def feature_names(self) -> list[str]:
        return ["stem_channels", "stem_kernel", "main_blocks"] + [
            f"m{i}_{g}" for i in range(self.main_blocks[-1]) for g in _BLOCK_GENES
        ]

    def encode(self, arch: Arch) -> np.ndarray:
        vec = np.zeros(3 + 4 * self.main_blocks[-1])
        vec[:3] = [arch["stem_channels"], arch["stem_kernel"], len(arch["main_blocks"])]
        for i, b in enumerate(arch["main_blocks"]):
            vec[3 + 4 * i : 7 + 4 * i] = [
                b["num_res_blocks"],
                b["branches"],
                BLOCK_TYPES.index(b["block_type"]),
                b["widen_factor"],
            ]
        return vec

    def decode(self, vector: Sequence[float]) -> Arch:
        vec = np.asarray(vector, dtype=float)
        if vec.shape != (3 + 4 * self.main_blocks[-1],):
            raise ConfigError(f"resnet-like vector must have length {3 + 4 * self.main_blocks[-1]}")
        m = int(nearest(self.main_blocks, vec[2]))
        blocks = []
        for i in range(m):
            r, b, t, f = vec[3 + 4 * i : 7 + 4 * i]
            blocks.append(
                {
                    "num_res_blocks": int(nearest(self.res_blocks, r)),
                    "branches": int(nearest(self.branches, b)),
                    "block_type": BLOCK_TYPES[int(nearest((0, 1), t))],
                    "widen_factor": float(nearest(self.widen_factors, f)),
                }
            )
        return {
            "stem_channels": int(nearest(self.stem_channels, vec[0])),
            "stem_kernel": int(nearest(self.stem_kernels, vec[1])),
            "main_blocks": blocks,
        }

    # ---- models ------------------------------------------------------------------------------
    def build(self, arch: Arch) -> nn.Module:
        self.validate(arch)
        return ResNetLike(
            in_channels=None,
            num_classes=self.num_classes,
            input_shape=self.input_shape,
            stem_channels=arch["stem_channels"],
            stem_kernel=arch["stem_kernel"],
            main_blocks=[dict(b) for b in arch["main_blocks"]],
            bottleneck_ratio=BOTTLENECK_RATIO,
        )

    def zoo_spec(self, arch: Arch) -> tuple[str, dict[str, Any]]:
        """(registered model name, kwargs) that rebuild ``arch`` with ``create_model`` (the zoo's
        ``resnet_like``), so a saved run loads with ``tinycim.train.load_run`` / ``tinycim drift``."""
        return (
            "resnet_like",
            {
                "num_classes": self.num_classes,
                "input_shape": list(self.input_shape),
                "in_channels": None,
                "stem_channels": arch["stem_channels"],
                "stem_kernel": arch["stem_kernel"],
                "bottleneck_ratio": BOTTLENECK_RATIO,
                "main_blocks": [dict(b) for b in arch["main_blocks"]],
            },
        )

    def count_params(self, arch: Arch) -> int:
        """Analytic count mirroring ResNetLike (convs without bias, BN 2 per channel, option-B shortcuts),
        so an arch with millions of channels is rejected without allocating it."""
        oc0, k = int(arch["stem_channels"]), int(arch["stem_kernel"])
        total, width = self.input_shape[0] * oc0 * k * k + 2 * oc0, oc0
        for m, b in enumerate(arch["main_blocks"]):
            out = max(1, round(width * float(b["widen_factor"])))
            mid = max(1, round(out * BOTTLENECK_RATIO))
            stride = 1 if m == 0 else 2
            for r in range(int(b["num_res_blocks"])):
                cin = width if r == 0 else out
                if b["block_type"] == "basic":
                    branch = cin * out * 9 + out * out * 9 + 4 * out
                else:
                    branch = cin * mid + mid * mid * 9 + mid * out + 4 * mid + 2 * out
                total += int(b["branches"]) * branch
                if (stride if r == 0 else 1) != 1 or cin != out:
                    total += cin * out + 2 * out
            width = out
        return total + width * self.num_classes + self.num_classes

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "stem_channels": list(self.stem_channels),
            "stem_kernels": list(self.stem_kernels),
            "max_main_blocks": self.main_blocks[-1],
            "max_res_blocks": self.res_blocks[-1],
            "max_branches": self.branches[-1],
            "widen_factors": list(self.widen_factors),
        }
