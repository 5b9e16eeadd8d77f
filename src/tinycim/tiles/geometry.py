"""How a layer's weight matrix is cut into crossbar tiles.

A conv's weight [C_out, C_in/groups, *k] is the matrix of k*k*C_in/groups rows by C_out columns
per group; a grouped or depthwise conv is block-diagonal (one block per group). Rows are given
to tiles in whole input channels (k*k rows each), as mapping tools do, so no kernel straddles
two arrays; row tiles' partial sums each pass their own ADC and are added digitally. Several
small groups share a tile along its diagonal; the empty off-diagonal cells are counted, not hidden.
"""

from __future__ import annotations

from dataclasses import dataclass

from tinycim.errors import MappingError


@dataclass(frozen=True)
class TileSpec:
    """One physical tile used by a layer: rows/cols occupied and cells holding a weight."""

    rows_used: int
    cols_used: int
    weight_cells: int


@dataclass(frozen=True)
class LayerGeometry:
    """Tiling of one layer.

    row_chunks: input-channel ranges (within a group) whose rows share a tile; each chunk's
        partial sum is converted by the ADC separately.
    col_chunks: output ranges (within a group) sharing a tile's columns.
    """

    groups: int
    in_per_group: int
    out_per_group: int
    kernel_numel: int
    tile_rows: int
    tile_cols: int
    row_chunks: tuple[tuple[int, int], ...]
    col_chunks: tuple[tuple[int, int], ...]
    tiles: tuple[TileSpec, ...]

    @property
    def rows_per_group(self) -> int:
        return self.in_per_group * self.kernel_numel

    @property
    def equal_row_chunks(self) -> bool:
        sizes = {r1 - r0 for r0, r1 in self.row_chunks}
        return len(sizes) == 1

    @property
    def weight_cells(self) -> int:
        return self.groups * self.rows_per_group * self.out_per_group

    @property
    def utilization(self) -> float:
        """Cells holding a weight / cells of the tiles used."""
        return self.weight_cells / (len(self.tiles) * self.tile_rows * self.tile_cols)


def _chunks(total: int, size: int) -> tuple[tuple[int, int], ...]:
    return tuple((start, min(start + size, total)) for start in range(0, total, size))


def layer_geometry(
    name: str,
    *,
    groups: int,
    in_per_group: int,
    out_per_group: int,
    kernel_numel: int,
    tile_rows: int,
    tile_cols: int,
) -> LayerGeometry:
    """Tile a layer's (block-diagonal) weight matrix onto tiles of tile_rows x tile_cols cells."""
    channels_per_tile = tile_rows // kernel_numel
    if channels_per_tile < 1:
        raise MappingError(
            f"layer {name!r}: one input channel needs {kernel_numel} rows (kernel), more than the tile's "
            f"{tile_rows} rows; use larger tiles"
        )
    # Balanced: as few row tiles as possible, channels spread evenly over them (equal chunks
    # let the simulator run all of a layer's row tiles as one grouped convolution).
    n_row_tiles = -(-in_per_group // channels_per_tile)
    row_chunks = _chunks(in_per_group, -(-in_per_group // n_row_tiles))
    col_chunks = _chunks(out_per_group, tile_cols)
    rows_g = in_per_group * kernel_numel
    tiles: list[TileSpec] = []
    fit = min(tile_rows // rows_g, tile_cols // out_per_group) if rows_g <= tile_rows else 0
    if groups > 1 and fit >= 1:
        # Whole groups packed along each tile's diagonal.
        for start in range(0, groups, fit):
            n = min(fit, groups - start)
            tiles.append(TileSpec(n * rows_g, n * out_per_group, n * rows_g * out_per_group))
    else:
        for _ in range(groups):
            for r0, r1 in row_chunks:
                for c0, c1 in col_chunks:
                    rows = (r1 - r0) * kernel_numel
                    tiles.append(TileSpec(rows, c1 - c0, rows * (c1 - c0)))
    return LayerGeometry(
        groups=groups,
        in_per_group=in_per_group,
        out_per_group=out_per_group,
        kernel_numel=kernel_numel,
        tile_rows=tile_rows,
        tile_cols=tile_cols,
        row_chunks=row_chunks,
        col_chunks=col_chunks,
        tiles=tuple(tiles),
    )
