"""``tinyml-unipolar``: the tinyml space plus a per-layer polarity gene (seed paper B, Garcia-Redondo
et al. 2020).

Each conv layer is stored ``differential`` (a device pair per weight, subtracted on the bit line),
``positive`` (one device per weight, weights kept >= 0) or ``negative`` (one device, weights <= 0,
negated digitally). Unipolar layers halve that layer's devices and columns and drop the current
subtractor; the search trades that against accuracy. The linear head always stays differential:
it is tiny and a sign-restricted classifier loses whole classes.
"""

from __future__ import annotations

from typing import Any

from tinycim.nas.space import Arch
from tinycim.nas.tinyml_space import _LAYER_GENES, TinyMLSpace

__all__ = ["UnipolarSpace", "POLARITIES"]

#: Ordered so one mutation step moves between a unipolar choice and the differential pair.
POLARITIES = ("positive", "differential", "negative")


class UnipolarSpace(TinyMLSpace):
    """TinyMLSpace whose layers carry a ``polarity`` gene; ``build`` ignores it (the digital net is
    the same), the evaluator applies it when training and mapping (see :meth:`layer_polarities`)."""

    name = "tinyml-unipolar"
    layer_genes = _LAYER_GENES + ("polarity",)

    def gene_options(self, gene: str) -> tuple:
        return POLARITIES if gene == "polarity" else super().gene_options(gene)

    def layer_polarities(self, arch: Arch) -> dict[str, str]:
        """Module name in the built PlainCNN -> polarity ("differential" | "positive" | "negative").

        PlainCNN puts layer i's conv at ``features.{i}.0`` (no pooling in this space) and the head's
        linear at ``head.2``."""
        names = {f"features.{i}.0": layer["polarity"] for i, layer in enumerate(arch["layers"])}
        names["head.2"] = "differential"
        return names

    def count_devices(self, arch: Arch) -> int:
        """Memory devices holding the weights: 2 per weight in differential layers, 1 in unipolar ones
        (one slice per weight; multiply by the slice count for bit-sliced mappings)."""
        total, width = 0, self.input_shape[0]
        for layer in arch["layers"]:
            weights = width * int(layer["channels"]) * int(layer["kernel"]) ** self.dims
            total += weights * (2 if layer["polarity"] == "differential" else 1)
            width = int(layer["channels"])
        return total + 2 * width * self.num_classes

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "name": self.name, "polarities": list(POLARITIES)}
