"""From a layer's weight matrix to tiles of conductances, and the converters around them."""

from tinycim.tiles.geometry import LayerGeometry, TileSpec, layer_geometry
from tinycim.tiles.mapping import MappedWeights, map_weights, weight_scale
from tinycim.tiles.periphery import dynamic_range, quantize_symmetric

__all__ = [
    "LayerGeometry",
    "MappedWeights",
    "TileSpec",
    "dynamic_range",
    "layer_geometry",
    "map_weights",
    "quantize_symmetric",
    "weight_scale",
]
