"""Placing a model's weight blocks on the accelerator's arrays.

Each layer is cut into tiles no larger than one array (`tinycim.tiles.geometry.layer_geometry`,
re-run with the accelerator's array size, so the mapping is the accelerator's, not the
simulator's). Then:

- layer-serial (AON-CiM): every block of every layer must be resident in the ONE array at the same
  time. Blocks are packed into vertical strips (first-fit decreasing by width): blocks in a strip
  share columns but never rows, so driving one layer's rows reads no other layer's cells.
- tiled (HERMES): each block gets a core of its own; the model fits if it needs <= `cores` cores.

What does not fit is listed (`Placement.unplaced`), and `require_fit` turns it into a MappingError.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tinycim.cost.accelerator import Accelerator
from tinycim.errors import MappingError
from tinycim.tiles.geometry import LayerGeometry, layer_geometry


@dataclass(frozen=True)
class Block:
    """One tile of one layer, placed at (row, col) of array `core` (-1 = not placed)."""

    layer: str
    rows: int
    cols: int
    weight_cells: int
    core: int = -1
    row: int = -1
    col: int = -1


@dataclass
class Placement:
    """Where every block went; `unplaced` names the blocks that did not fit."""

    accelerator: Accelerator
    blocks: list[Block] = field(default_factory=list)
    unplaced: list[Block] = field(default_factory=list)

    @property
    def fits(self) -> bool:
        return not self.unplaced

    @property
    def cores_used(self) -> int:
        return len({b.core for b in self.blocks}) if self.blocks else 0

    def layer_blocks(self, layer: str) -> list[Block]:
        return [b for b in self.blocks + self.unplaced if b.layer == layer]

    def require_fit(self) -> None:
        if self.fits:
            return
        acc = self.accelerator
        names = sorted({b.layer for b in self.unplaced})
        what = ", ".join(f"{b.layer} ({b.rows}x{b.cols})" for b in self.unplaced[:6])
        more = f" and {len(self.unplaced) - 6} more" if len(self.unplaced) > 6 else ""
        where = (
            f"one {acc.array.rows}x{acc.array.cols} array (layer-serial: all layers resident)"
            if acc.execution == "layer-serial"
            else f"{acc.array.cores} cores of {acc.array.rows}x{acc.array.cols}"
        )
        raise MappingError(
            f"model does not fit on {acc.name}: {len(names)} layer(s) left over after filling "
            f"{where}: {what}{more}; use a larger accelerator or a smaller model"
        )


def columns_per_output(acc: Accelerator, slices: int, differential: bool) -> int:
    """Physical columns one output (weight column) occupies on `acc`: one per slice, twice that when
    a differential pair sits on two columns (`layout.differential == "columns"`)."""
    return slices * (2 if differential and acc.layout.differential == "columns" else 1)


def accelerator_geometry(
    name: str, geometry: LayerGeometry, acc: Accelerator, cols_per_output: int = 1
) -> LayerGeometry:
    """The layer's tiling on the accelerator's array size, each output taking `cols_per_output`
    physical columns (slice columns, G+ / G- columns); a tile's weight_cells then counts devices."""
    return layer_geometry(
        name,
        groups=geometry.groups,
        in_per_group=geometry.in_per_group,
        out_per_group=geometry.out_per_group * cols_per_output,
        kernel_numel=geometry.kernel_numel,
        tile_rows=acc.array.rows,
        tile_cols=acc.array.cols,
    )


def place(layers: list[tuple[str, LayerGeometry]], acc: Accelerator) -> Placement:
    """Place every layer's tiles (geometries already on the accelerator's array size)."""
    blocks = [
        Block(name, t.rows_used, t.cols_used, t.weight_cells) for name, geo in layers for t in geo.tiles
    ]
    if acc.execution == "tiled":
        return _place_tiled(blocks, acc)
    return _place_strips(blocks, acc)


def _place_tiled(blocks: list[Block], acc: Accelerator) -> Placement:
    out = Placement(acc)
    for i, b in enumerate(blocks):
        target = out.blocks if i < acc.array.cores else out.unplaced
        target.append(
            Block(
                b.layer,
                b.rows,
                b.cols,
                b.weight_cells,
                core=i if i < acc.array.cores else -1,
                row=0 if i < acc.array.cores else -1,
                col=0 if i < acc.array.cores else -1,
            )
        )
    return out


def _place_strips(blocks: list[Block], acc: Accelerator) -> Placement:
    """First-fit decreasing strip packing in one array (why strips: see the module docstring)."""
    rows, cols = acc.array.rows, acc.array.cols
    out = Placement(acc)
    strips: list[list[int]] = []  # [col0, width, rows filled]
    next_col = 0
    for b in sorted(blocks, key=lambda b: (-b.cols, -b.rows)):
        spot = next((s for s in strips if b.cols <= s[1] and s[2] + b.rows <= rows), None)
        if spot is None and b.rows <= rows and next_col + b.cols <= cols:
            spot = [next_col, b.cols, 0]
            strips.append(spot)
            next_col += b.cols
        if spot is None:
            out.unplaced.append(b)
            continue
        out.blocks.append(Block(b.layer, b.rows, b.cols, b.weight_cells, core=0, row=spot[2], col=spot[0]))
        spot[2] += b.rows
    return out
