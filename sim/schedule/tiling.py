"""Tiling: how an op's pieces are cut into tiles, and what each tile costs.

A strategy marks an op tiled along an axis (`sim.ir.Tiling`): a matmul along
its input features (row-major: partial products accumulate) or its output
features (column-major), a SIMD op along its columns. The mapping cuts every
piece along that field into tiles of ``tile_elems`` elements: a multiple of
the natural tile (the array's rows for input tiles, its columns for output
tiles, or ``schedule.tile_elems``) chosen so that at most
``schedule.max_tiles_per_op`` tiles cut the longest piece. Every piece of an
op has the same number of tiles (shorter pieces get empty ones), so tile
``t`` of a consumer can wait for tile ``t`` of its producer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, cast

import numpy as np

from sim.config import MachineConfig, ScheduleConfig
from sim.hardware import EngineCost, matmul_cost, simd_cost
from sim.ir import MatmulShape, Op, OpKind, SimdShape, TileAxis

__all__ = ["OpTiles", "column_spans", "engine_cost", "op_tiles", "output_field", "tile_extents"]

Shape = MatmulShape | SimdShape


def tile_extents(extent_elems: int, tile_elems: int) -> list[int]:
    """Lengths of the tiles that cut ``extent_elems`` into pieces of ``tile_elems``.

    >>> tile_extents(512, 128)
    [128, 128, 128, 128]
    >>> tile_extents(300, 128)
    [128, 128, 44]
    """
    full, rest = divmod(extent_elems, tile_elems)
    return [tile_elems] * full + ([rest] if rest else [])


def engine_cost(shape: Shape, machine: MachineConfig) -> EngineCost:
    """The cost-model cycles of one piece (or tile) of ``shape`` (0 if it is empty)."""
    if isinstance(shape, MatmulShape):
        if min(shape.tokens, shape.in_features, shape.out_features, shape.groups) == 0:
            return EngineCost(0)
        return matmul_cost(shape.tokens, shape.in_features, shape.out_features,
                           machine.matmul, machine.buffers, shape.groups)
    if shape.rows == 0 or shape.cols == 0:
        return EngineCost(0)
    return simd_cost(shape.pattern, shape.rows, shape.cols, shape.instrs, machine.simd)


def output_field(op: Op) -> str:
    """The shape field of an op's output columns."""
    return "out_features" if op.kind is OpKind.MATMUL else "cols"


@dataclass(frozen=True)
class OpTiles:
    """How one op's pieces are cut: ``tiles`` tiles of ``tile_elems`` elements along
    shape field ``field`` (an untiled op: one tile, ``field`` None)."""

    field: str | None
    tile_elems: int
    tiles: int

    def lengths(self, extent_elems: int) -> list[int]:
        """The tile lengths of a piece ``extent_elems`` long, padded with empty tiles
        to the op's count."""
        lengths = tile_extents(extent_elems, self.tile_elems) if extent_elems else []
        return lengths + [0] * (self.tiles - len(lengths))

    def shapes(self, shape: Shape) -> list[Shape]:
        """The shape of every tile of a piece of ``shape``."""
        if self.field is None:
            return [shape]
        field = self.field
        lengths = self.lengths(getattr(shape, field))
        cut = {n: replace(cast(Any, shape), **{field: n}) for n in set(lengths)}
        return [cut[n] for n in lengths]

    def costs(self, shape: Shape, machine: MachineConfig) -> list[EngineCost]:
        """The cost of every tile of a piece of ``shape``."""
        tiles = self.shapes(shape)
        costs = {tile: engine_cost(tile, machine) for tile in set(tiles)}
        return [costs[tile] for tile in tiles]


def op_tiles(op: Op, shapes: Sequence[Shape], machine: MachineConfig,
             schedule: ScheduleConfig) -> OpTiles:
    """How ``op``, whose pieces have ``shapes``, is cut (module docstring)."""
    if op.tiling is None:
        return OpTiles(None, 0, 1)
    if op.kind is OpKind.MATMUL:
        field = "in_features" if op.tiling.axis is TileAxis.IN else "out_features"
    else:
        field = "cols"
    size = schedule.tile_elems or (
        machine.matmul.array_rows if op.tiling.axis is TileAxis.IN else machine.matmul.array_cols)
    longest = max(getattr(shape, field) for shape in shapes)
    natural = -(-longest // size)
    tile_elems = size * -(-natural // schedule.max_tiles_per_op)
    tiles = max(len(tile_extents(getattr(shape, field), tile_elems)) for shape in shapes)
    return OpTiles(field, tile_elems, tiles)


def column_spans(op: Op, shapes: Sequence[Shape], which: Sequence[int], tiles: OpTiles
                 ) -> tuple[np.ndarray, np.ndarray, int]:
    """(pieces, tiles) arrays: the columns [start, end) each tile of ``op`` holds in
    the vector its pieces (shape ``shapes[which[i]]``, in order) make up when
    gathered (untiled: each piece in one span); and the vector's length."""
    index = np.asarray(which, dtype=np.int64)
    widths = np.asarray([getattr(s, output_field(op)) for s in shapes], dtype=np.int64)[index]
    offsets = np.concatenate(([0], np.cumsum(widths)[:-1]))[:, None]
    total = int(widths.sum())
    if tiles.field is None:
        return offsets, offsets + widths[:, None], total
    field = tiles.field
    ends = np.asarray([np.cumsum([0, *tiles.lengths(getattr(s, field))]) for s in shapes],
                      dtype=np.int64)[index]
    return offsets + ends[:, :-1], offsets + ends[:, 1:], total
