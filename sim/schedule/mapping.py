"""Lowering: place a rewritten OpGraph on the machine's engines as a TaskGraph.

Placement in this version: every op runs on core 0 (its matmul engine or its
SIMD unit). Tensor-parallel placement over many cores, with the collectives it
needs, builds on the interconnect.

Tiling: an op tiled along ``in`` is cut into tiles of ``tile_elems`` input
features (default: the matmul array's rows), along ``out`` into tiles of
``tile_elems`` output features (default: the array's columns); the last tile
may be shorter. Tasks are emitted in topological op order, tiles in ascending
order: that is the program order the DES uses to break ties.
"""

from __future__ import annotations

from dataclasses import replace

from sim.config import MachineConfig, ScheduleConfig
from sim.hardware import EngineCost, matmul_cost, simd_cost
from sim.ir import (
    Category,
    EdgeMode,
    Engine,
    EngineKind,
    MatmulShape,
    Op,
    OpGraph,
    OpKind,
    SimdShape,
    Task,
    TaskGraph,
    TileAxis,
)

__all__ = ["lower", "tile_extents"]


def tile_extents(extent_elems: int, tile_elems: int) -> list[int]:
    """Lengths of the tiles that cut ``extent_elems`` into pieces of ``tile_elems``.

    >>> tile_extents(512, 128)
    [128, 128, 128, 128]
    >>> tile_extents(300, 128)
    [128, 128, 44]
    """
    full, rest = divmod(extent_elems, tile_elems)
    return [tile_elems] * full + ([rest] if rest else [])


def _tile_shapes(op: Op, machine: MachineConfig, schedule: ScheduleConfig) -> list:
    """The shape of every tile of ``op`` (one shape if it is not tiled)."""
    if op.tiling is None:
        return [op.shape]
    array = machine.matmul
    default = array.array_rows if op.tiling.axis is TileAxis.IN else array.array_cols
    lengths = tile_extents(op.tiling.extent_elems, schedule.tile_elems or default)
    shape = op.shape
    if isinstance(shape, MatmulShape):
        field = "in_features" if op.tiling.axis is TileAxis.IN else "out_features"
        return [replace(shape, **{field: n}) for n in lengths]
    return [replace(shape, cols=n) for n in lengths]


def _cost(shape: MatmulShape | SimdShape, machine: MachineConfig) -> EngineCost:
    if isinstance(shape, MatmulShape):
        return matmul_cost(shape.tokens, shape.in_features, shape.out_features,
                           machine.matmul, machine.buffers, shape.groups)
    return simd_cost(shape.pattern, shape.rows, shape.cols, shape.instrs, machine.simd)


def lower(graph: OpGraph, machine: MachineConfig, schedule: ScheduleConfig) -> TaskGraph:
    """Turn ``graph`` into tasks on core 0 with cost-model durations.

    Tile edges join tile *i* to tile *i*; ``all`` edges join every tile of the
    producer to every tile of the consumer.
    """
    engines = (
        Engine("core0.matmul", EngineKind.MATMUL, core=0),
        Engine("core0.simd", EngineKind.SIMD, core=0),
    )
    engine_of = {OpKind.MATMUL: 0, OpKind.SIMD: 1}
    category_of = {OpKind.MATMUL: Category.MATMUL, OpKind.SIMD: Category.SIMD}
    tasks: list[Task] = []
    tasks_of: dict[str, list[int]] = {}
    for op in graph.topological_order("mapping"):
        shapes = _tile_shapes(op, machine, schedule)
        incoming = graph.predecessors(op.name)
        indices = []
        for tile, shape in enumerate(shapes):
            deps: list[int] = []
            for edge in incoming:
                producer = tasks_of[edge.src]
                deps.extend([producer[tile]] if edge.mode is EdgeMode.TILE else producer)
            cost = _cost(shape, machine)
            indices.append(len(tasks))
            tasks.append(Task(
                name=op.name if len(shapes) == 1 else f"{op.name}[{tile}]",
                op=op.name,
                tile=tile,
                engine=engine_of[op.kind],
                duration_cycles=cost.occupancy_cycles,
                result_latency_cycles=cost.result_latency_cycles,
                category=category_of[op.kind],
                deps=tuple(sorted(set(deps))),
            ))
        tasks_of[op.name] = indices
    taskgraph = TaskGraph(engines, tuple(tasks))
    taskgraph.validate("mapping")
    return taskgraph
