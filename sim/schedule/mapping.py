"""Lowering: place a rewritten OpGraph on the machine's engines as a TaskGraph.

Placement in this version: every matmul and SIMD op runs on core 0 (its matmul
engine or its SIMD unit); a collective op runs over its participants on the
machine's interconnect. Tensor-parallel placement of transformer layers over
many cores, with the collectives it needs, builds on this.

Tiling: an op tiled along ``in`` is cut into tiles of ``tile_elems`` input
features (default: the matmul array's rows), along ``out`` into tiles of
``tile_elems`` output features (default: the array's columns); the last tile
may be shorter. Tasks are emitted in topological op order, tiles in ascending
order: that is the program order the DES uses to break ties.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sim.config import MachineConfig, ScheduleConfig
from sim.errors import GraphError
from sim.hardware import EngineCost, matmul_cost, simd_cost
from sim.ir import (
    Category,
    CollectiveShape,
    EdgeMode,
    MatmulShape,
    Op,
    OpGraph,
    OpKind,
    SimdShape,
    Task,
    TaskGraph,
    TileAxis,
)
from sim.network.collectives import append_collective
from sim.network.from_config import Interconnect, build_interconnect, collective_options

__all__ = ["Lowered", "lower", "tile_extents"]


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


@dataclass(frozen=True)
class Lowered:
    """A lowered graph: its TaskGraph, the interconnect it runs on, and the
    uncontended closed-form latency of every collective op, by op name."""

    taskgraph: TaskGraph
    interconnect: Interconnect
    closed_form_cycles: dict[str, int]


def _lower_collective(op: Op, deps: list[int], tasks: list[Task], machine: MachineConfig,
                      net: Interconnect) -> tuple[list[int], int]:
    """Append a collective's messages; return its final tasks and closed form."""
    shape = op.shape
    if not isinstance(shape, CollectiveShape):
        raise GraphError(f"mapping: collective op {op.name!r} has no CollectiveShape")
    cores = shape.participants or tuple(range(machine.hierarchy.total_cores))
    options = collective_options(machine, reduce_op=shape.reduce_op, root=shape.root,
                                 arity=shape.arity)
    result = append_collective(
        tasks, net.router, net.engines, shape.op, shape.algorithm, cores, shape.nbytes,
        options=options, deps={core: deps for core in cores} if deps else None, name=op.name,
    )
    return list(result.final_tasks), result.latency_cycles


def lower(graph: OpGraph, machine: MachineConfig, schedule: ScheduleConfig,
          interconnect: Interconnect | None = None) -> Lowered:
    """Turn ``graph`` into tasks with cost-model durations.

    Matmul and SIMD ops run on core 0; collective ops become message schedules
    over their participants (`sim.network.collectives`). Tile edges join tile
    *i* to tile *i*; ``all`` edges join every tile of the producer to every
    tile of the consumer. ``interconnect`` defaults to the machine's own.
    """
    net = interconnect or build_interconnect(machine)
    engine_of = {OpKind.MATMUL: net.engines.matmul[0], OpKind.SIMD: net.engines.simd[0]}
    category_of = {OpKind.MATMUL: Category.MATMUL, OpKind.SIMD: Category.SIMD}
    tasks: list[Task] = []
    tasks_of: dict[str, list[int]] = {}
    closed_forms: dict[str, int] = {}
    for op in graph.topological_order("mapping"):
        incoming = graph.predecessors(op.name)
        if op.kind is OpKind.COLLECTIVE:
            deps = sorted({i for e in incoming for i in tasks_of[e.src]})
            tasks_of[op.name], closed_forms[op.name] = _lower_collective(
                op, deps, tasks, machine, net)
            continue
        shapes = _tile_shapes(op, machine, schedule)
        indices = []
        for tile, shape in enumerate(shapes):
            deps = []
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
    taskgraph = TaskGraph(net.engines.engines, tuple(tasks))
    taskgraph.validate("mapping")
    return Lowered(taskgraph, net, closed_forms)
