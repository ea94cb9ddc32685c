"""Lowering: place a rewritten OpGraph on the machine's cores as a TaskGraph.

Placement (`sim.schedule.placement`): each layer runs on a group of cores,
every op cut into per-core pieces by its role. Each piece becomes one task per
tile on its core's matmul engine or SIMD unit, with cost-model durations.

Where an edge joins ops laid out differently, the mapping inserts the data
movement as a collective (`sim.network.collectives`, algorithm
``schedule.gather_algorithm`` for all-gathers, ``schedule.reduction_algorithm``
for the rest) over the interconnect:

============================== =============================== ======================
producer -> consumer           movement                        bytes per core
============================== =============================== ======================
slice -> linear / attention    all-gather over the group       the slice (activations)
slice stats -> scalar          all-reduce over the group       4 per token and sum
attn max -> exp (global max)   all-reduce (max) in each set    4 per row
attn sums -> scalar            all-reduce (every core needs    4 per row
                               it) or reduce to the set root
attn P·V -> set root / linear  reduce in each set (+ all-      4 per output element
                               gather for a linear)
layer L -> layer L+1 (other    core i sends its slice to       the slice
group)                         core i of the next group
============================== =============================== ======================

Other edges stay on the core (a piece waits for the producer's piece on the
same core, or for all of them if it has none there). A ``tile`` edge joins
tile t to tile t; through an all-gather the gather is cut into one chunk per
consumer tile, chunk t waiting only for the producer tiles whose columns it
carries. Tasks are emitted in topological op order, then core, then tile: the
program order the DES uses to break ties. Collective ops of a ``collective``
workload run over their participants as given.

With ``collectives="closed_form"`` (what the analytic backend runs) every
collective and every layer-to-layer message instead becomes tasks on private
``closed_form`` engines: a collective starts when the last participant's
contribution is ready, and each core that ends with the result has it after
its own uncontended closed-form latency (`collective_done_cycles`; one task
per distinct latency); a message takes its uncontended message time. Links,
NICs and the SIMD combines of a reduction are then not modelled, so nothing
contends with communication; compute tasks are the same as with hops.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from itertools import accumulate, pairwise
from typing import Any, Literal

from sim.config import MachineConfig, ScheduleConfig
from sim.errors import GraphError
from sim.gcpause import paused_gc
from sim.hardware import EngineCost, matmul_cost, simd_cost
from sim.ir import (
    Category,
    CollectiveShape,
    Edge,
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
from sim.network.collectives import append_collective, collective_done_cycles
from sim.network.from_config import Interconnect, build_interconnect, collective_options
from sim.network.problem import CollectiveOptions
from sim.network.transport import append_message, message_latency_cycles
from sim.schedule.placement import (
    AttentionSets,
    LayerGroup,
    Piece,
    Pieces,
    attention_sets,
    check_capacity,
    layer_groups,
    op_layout,
    op_pieces,
    stored_bytes,
)

__all__ = ["CollectiveMode", "Lowered", "lower", "tile_extents"]

#: How collectives become tasks: ``hops`` (every message hop on its link) or
#: ``closed_form`` (contention-free tasks of the closed-form latencies).
CollectiveMode = Literal["hops", "closed_form"]

#: Partial sums and statistics travel as fp32.
_PARTIAL_BYTES = 4
Deps = dict[tuple[int, int], list[int]]  # (core, tile) -> task indices


def tile_extents(extent_elems: int, tile_elems: int) -> list[int]:
    """Lengths of the tiles that cut ``extent_elems`` into pieces of ``tile_elems``.

    >>> tile_extents(512, 128)
    [128, 128, 128, 128]
    >>> tile_extents(300, 128)
    [128, 128, 44]
    """
    full, rest = divmod(extent_elems, tile_elems)
    return [tile_elems] * full + ([rest] if rest else [])


@dataclass(frozen=True)
class Lowered:
    """A lowered graph: its TaskGraph, the interconnect it runs on, the
    uncontended closed-form latency of every collective op of the workload, and
    a purpose for ops that serve normalization or move data, keyed by the
    ``op`` of their tasks: ``normalization`` (statistics, scalars, normalizing,
    softmax steps), ``normalization_comm`` (their collectives), ``data_comm``
    (all-gathers, partial-sum reductions, layer-to-layer moves)."""

    taskgraph: TaskGraph
    interconnect: Interconnect
    closed_form_cycles: dict[str, int]
    op_purpose: dict[str, str]


def _cost(shape: MatmulShape | SimdShape, machine: MachineConfig) -> EngineCost:
    if isinstance(shape, MatmulShape):
        if min(shape.tokens, shape.in_features, shape.out_features, shape.groups) == 0:
            return EngineCost(0)
        return matmul_cost(shape.tokens, shape.in_features, shape.out_features,
                           machine.matmul, machine.buffers, shape.groups)
    if shape.rows == 0 or shape.cols == 0:
        return EngineCost(0)
    return simd_cost(shape.pattern, shape.rows, shape.cols, shape.instrs, machine.simd)


def _all_tasks(view: dict[int, list[int]]) -> list[int]:
    """Every task index in ``view`` (core -> tasks), ascending, without repeats."""
    return sorted({i for tasks in view.values() for i in tasks})


def _tile_field(op: Op) -> str:
    """The shape field a tiling divides."""
    if op.kind is OpKind.MATMUL:
        return "in_features" if op.tiling.axis is TileAxis.IN else "out_features"
    return "cols"


class _Lowering:
    """Builds the task list of one graph (state of a single `lower` call)."""

    def __init__(self, graph: OpGraph, machine: MachineConfig, schedule: ScheduleConfig,
                 net: Interconnect, bits: dict[str, int], collectives: CollectiveMode) -> None:
        self.graph, self.machine, self.schedule, self.net, self.bits = (
            graph, machine, schedule, net, bits)
        self.closed_form = collectives == "closed_form"
        self.private_engines: list[Engine] = []  # one per closed-form task
        self.groups = layer_groups(machine, schedule)
        self.tasks: list[Task] = []
        self.pieces: dict[str, Pieces] = {}
        self.layout: dict[str, str] = {}
        self.group: dict[str, LayerGroup] = {}
        self.tiles: dict[str, int] = {}
        self.tile_elems: dict[str, int] = {}
        self.out: dict[str, dict[int, list[int]]] = {}  # op -> core -> task per tile
        self.attention: dict[int, AttentionSets] = {}
        self.closed_forms: dict[str, int] = {}
        self.purposes: dict[str, str] = {}
        self.stored: dict[int, int] = {}
        self._memo: dict[tuple, dict[int, list[int]]] = {}

    # ---------------------------------------------------------------- placement
    def _attention(self, op: Op, group: LayerGroup) -> AttentionSets | None:
        layer = op.attrs.get("layer", 0)
        if layer not in self.attention:
            scores = next((o for o in self.graph.ops if o.role == "attn.scores"
                           and o.attrs.get("layer", 0) == layer), None)
            if scores is None:
                return None
            self.attention[layer] = attention_sets(scores.shape, group, self.schedule)
        return self.attention[layer]

    def _tile_elems(self, op: Op, shapes: Sequence[MatmulShape | SimdShape]) -> int:
        """Elements per tile: a multiple of the natural tile (array rows or columns,
        or ``schedule.tile_elems``) so that at most ``max_tiles_per_op`` tiles cut
        the longest piece."""
        if op.tiling is None:
            return 0
        array = self.machine.matmul
        size = self.schedule.tile_elems or (
            array.array_rows if op.tiling.axis is TileAxis.IN else array.array_cols)
        longest = max(getattr(shape, _tile_field(op)) for shape in shapes)
        natural = -(-longest // size)
        return size * -(-natural // self.schedule.max_tiles_per_op)

    def _tile_lengths(self, op: Op, extent: int) -> list[int]:
        """The tile lengths of one piece, padded with empty tiles to the op's count."""
        lengths = tile_extents(extent, self.tile_elems[op.name]) if extent else []
        return lengths + [0] * (self.tiles[op.name] - len(lengths))

    # ---------------------------------------------------------------- movement
    def _collective(self, kind: str, cores: tuple[int, ...], nbytes: int,
                    deps: dict[int, list[int]], name: str, *, reduce_op: str = "sum",
                    root: int | None = None, purpose: str = "data_comm",
                    algorithm: str | None = None) -> dict[int, list[int]]:
        """Append a collective; return, per core that ends with the data, its tasks.

        ``purpose`` (``normalization_comm`` or ``data_comm``) is recorded for the
        breakdown.
        """
        self.purposes[name] = purpose
        if len(cores) == 1:
            return {cores[0]: sorted(deps.get(cores[0], []))}
        options = collective_options(self.machine, reduce_op=reduce_op, root=root,
                                     arity=self.schedule.collective_arity)
        algorithm = algorithm or (self.schedule.gather_algorithm if kind == "all_gather"
                                  else self.schedule.reduction_algorithm)
        if self.closed_form:
            every = [i for c in cores for i in deps.get(c, ())]  # the task sorts them
            return self._closed_form_collective(name, kind, algorithm, cores, max(1, nbytes),
                                                options, every)
        result = append_collective(
            self.tasks, self.net.router, self.net.engines, kind,
            algorithm, cores, max(1, nbytes), options=options,
            deps={c: tuple(sorted(set(deps[c]))) for c in cores if deps.get(c)}, name=name)
        return {c: list(done) or sorted(deps.get(c, [])) for c, done in result.done.items()}

    def _relocated(self, producer: str, group: LayerGroup) -> dict[int, list[int]]:
        """The producer's slices moved core by core onto ``group`` (layer boundary)."""
        key = ("move", producer, group.index)
        if key not in self._memo:
            moved: dict[int, list[int]] = {}
            for piece, dst in zip(self.pieces[producer], group.cores, strict=False):
                if self.closed_form:
                    latency = message_latency_cycles(self.net.router, piece.core, dst,
                                                     max(1, self._bytes(piece.shape)))
                    moved[dst] = [self._closed_form_task(
                        f"{producer}>g{group.index}.{piece.core}", latency,
                        self.out[producer][piece.core], op=f"{producer}>move")]
                    self.purposes[f"{producer}>move"] = "data_comm"
                    continue
                moved[dst] = [append_message(
                    self.tasks, self.net.router, self.net.engines, piece.core, dst,
                    max(1, self._bytes(piece.shape)), tuple(self.out[producer][piece.core]),
                    name=f"{producer}>g{group.index}.{piece.core}", op=f"{producer}>move")]
                self.purposes[f"{producer}>move"] = "data_comm"
            self._memo[key] = moved
        return self._memo[key]

    def _closed_form_collective(self, name: str, kind: str, algorithm: str,
                                cores: tuple[int, ...], nbytes: int,
                                options: CollectiveOptions, deps: list[int]
                                ) -> dict[int, list[int]]:
        """A collective as closed-form tasks, all waiting for ``deps`` (every
        contribution): one per distinct arrival cycle of the cores that end with
        the result (`collective_done_cycles`), behind a zero-time start task when
        there are several; return each such core's task."""
        done = collective_done_cycles(self.net.router, kind, algorithm, cores, nbytes,
                                      options=options)
        cycles = sorted(set(done.values()))
        if len(cycles) > 1:  # one zero-time start joins the contributions, once
            deps = [self._closed_form_task(f"{name}.start", 0, deps, op=name)]
        task = {c: self._closed_form_task(name if len(cycles) == 1 else f"{name}@{c}cy", c,
                                          deps, op=name) for c in cycles}
        return {core: [task[c]] for core, c in done.items()}

    def _closed_form_task(self, name: str, latency_cycles: int, deps: list[int],
                          op: str | None = None) -> int:
        """Append one communication task of ``latency_cycles`` on its own private
        engine (nothing contends with it); return its index."""
        engine = len(self.net.engines.engines) + len(self.private_engines)
        self.private_engines.append(Engine(f"closed_form.{name}", EngineKind.CLOSED_FORM, None))
        self.tasks.append(Task(name, op or name, 0, engine, latency_cycles, 0,
                               Category.COMMUNICATION, tuple(sorted(set(deps)))))
        return len(self.tasks) - 1

    def _bytes(self, shape: MatmulShape | SimdShape) -> int:
        """Activation bytes of a piece's output."""
        elems = (shape.tokens * shape.groups * shape.out_features
                 if isinstance(shape, MatmulShape) else shape.rows * shape.cols)
        return -(-elems * self.bits["activation"] // 8)

    def _gather_sources(self, edge: Edge, group: LayerGroup, consumer: Op
                        ) -> tuple[Any, str, bool]:
        """What an all-gather of ``edge`` onto ``group`` collects: the producer's
        output, its partials reduced in each attention set (P·V), or its slices
        moved onto ``group``; their layout; and whether they moved."""
        layout = self.layout[edge.src]
        sources = self.out[edge.src]
        if layout == "attn":  # P·V partials: reduce inside each set first
            sources = self._set_reduce(edge.src, consumer, chunked=False)[0]
            layout = "attn_root"
        moved = self.group[edge.src].index != group.index
        if moved:
            sources = self._relocated(edge.src, group)
        return sources, layout, moved

    def _all_gather(self, edge: Edge, group: LayerGroup, chunks: int,
                    consumer: Op) -> list[dict[int, list[int]]]:
        """All-gather of the producer's output onto every core of ``group``, in
        ``chunks`` chunks (one per consumer tile along the gathered columns)."""
        key = ("gather", edge.src, group.index, chunks)
        if key in self._memo:
            return self._memo[key]  # type: ignore[return-value]
        producer = self.graph.op(edge.src)
        sources, layout, moved = self._gather_sources(edge, group, consumer)
        pieces = self.pieces[edge.src]
        if self.layout[edge.src] == "attn":  # after the set reduce only the roots hold data
            roots = {members[0] for members in self._sets(edge.src).sets}
            pieces = [p for p in pieces if p.core in roots]
        if layout == "slice" and chunks > 1 and not moved:
            per_core = [self._bytes(p.shape) for p in pieces]
            offsets = [0, *accumulate(getattr(p.shape, self._cols(producer)) for p in pieces)]
            total = offsets[-1]
            result = []
            bounds = pairwise([0, *accumulate(self._tile_lengths(consumer, total))])
            for chunk, (lo, hi) in enumerate(bounds):
                deps = {}
                for i, piece in enumerate(pieces):
                    deps[piece.core] = self._tiles_in(edge.src, piece, offsets[i], lo, hi,
                                                      sources)
                nbytes = -(-max(per_core) // chunks)
                result.append(self._collective("all_gather", group.cores, nbytes, deps,
                                               f"{consumer.name}<{edge.src}.gather{chunk}"))
        else:
            total_bytes = sum(self._bytes(p.shape) for p in pieces) if layout != "every" else (
                self._bytes(pieces[0].shape))
            deps = {core: list(tasks) for core, tasks in sources.items()}
            if layout != "slice":  # partials at set roots: everyone waits for all of them
                every = sorted({i for tasks in sources.values() for i in tasks})
                deps = {core: every for core in group.cores}
            nbytes = -(-total_bytes // len(group.cores))
            done = self._collective("all_gather", group.cores, nbytes, deps,
                                    f"{consumer.name}<{edge.src}.gather")
            result = [done] * chunks
        self._memo[key] = result  # type: ignore[assignment]
        return result

    def _cols(self, op: Op) -> str:
        return "out_features" if op.kind is OpKind.MATMUL else "cols"

    def _tiles_in(self, name: str, piece: Piece, offset: int, lo: int, hi: int,
                  sources: dict[int, list[int]]) -> list[int]:
        """The producer tiles of ``piece`` (columns from ``offset``) overlapping [lo, hi)."""
        tasks = sources.get(piece.core, [])
        op = self.graph.op(name)
        if op.tiling is None or len(tasks) != self.tiles[name]:
            width = getattr(piece.shape, self._cols(op))
            return list(tasks) if offset < hi and offset + width > lo else []
        ends = [0, *accumulate(self._tile_lengths(op, getattr(piece.shape, _tile_field(op))))]
        return [tasks[t] for t, (a, b) in enumerate(pairwise(ends))
                if b > a and offset + a < hi and offset + b > lo]

    def _partial_sums(self, producer: str, group: LayerGroup) -> dict[int, list[int]]:
        """All-reduce of a row-split linear's partial outputs (fp32) over its group:
        afterwards every core holds the whole output. (A reduce-scatter would move
        less; the all-reduce is the collective the network room provides.)"""
        key = ("partials", producer, group.index)
        if key not in self._memo:
            shape = self.pieces[producer][0].shape
            nbytes = shape.tokens * shape.groups * shape.out_features * _PARTIAL_BYTES
            self._memo[key] = self._collective(
                "all_reduce", self.group[producer].cores, nbytes, self.out[producer],
                f"{producer}.partials", purpose="data_comm")
            if self.group[producer].index != group.index:
                raise GraphError(f"mapping: {producer} (row split) feeds another layer group")
        return self._memo[key]

    @staticmethod
    def _in_routers(producer: Op) -> str | None:
        """``in_network`` for statistics the strategy reduces in the routers."""
        return "in_network" if producer.reduce_in_network else None

    def _sets(self, producer: str) -> AttentionSets:
        return self.attention[self.graph.op(producer).attrs.get("layer", 0)]

    def _set_reduce_plan(self, producer: str, chunked: bool
                         ) -> tuple[AttentionSets, int, str, list[int]]:
        """What `_set_reduce` of ``producer`` moves: the attention sets, the chunks
        (one per tile if ``chunked``), the purpose, and each set's bytes per core."""
        attention = self._sets(producer)
        tiles = self.tiles[producer] if chunked else 1
        role = self.graph.op(producer).role
        purpose = ("normalization_comm" if role in ("softmax.max", "norm.stats")
                   else "data_comm")
        pieces = self.pieces[producer]
        shape_of = dict(zip(pieces.cores, (pieces.shapes[w] for w in pieces.which),
                            strict=True))
        set_bytes = []
        for members in attention.sets:
            shape = shape_of[members[0]]
            elems = (shape.tokens * shape.groups * shape.out_features
                     if isinstance(shape, MatmulShape) else shape.rows)
            set_bytes.append(-(-elems * _PARTIAL_BYTES // tiles))
        return attention, tiles, purpose, set_bytes

    def _set_reduce(self, producer: str, consumer: Op, chunked: bool,
                    kind: str = "reduce", reduce_op: str = "sum") -> list[dict[int, list[int]]]:
        """Reduce (or all-reduce) partials of an ``attn`` op inside every attention set."""
        key = (kind, producer, consumer.name if chunked else "", reduce_op)
        if key in self._memo:
            return self._memo[key]  # type: ignore[return-value]
        attention, tiles, purpose, set_bytes = self._set_reduce_plan(producer, chunked)
        results: list[dict[int, list[int]]] = []
        for tile in range(tiles):
            done: dict[int, list[int]] = {}
            for j, (members, nbytes) in enumerate(zip(attention.sets, set_bytes, strict=True)):
                deps = {c: (self.out[producer][c][tile:tile + 1] if chunked
                            else self.out[producer][c]) for c in members}
                done.update(self._collective(
                    kind, members, nbytes, deps,
                    f"{consumer.name}<{producer}.{kind}{tile}.s{j}", reduce_op=reduce_op,
                    root=members[0], purpose=purpose,
                    algorithm=self._in_routers(self.graph.op(producer))))
            results.append(done)
        self._memo[key] = results  # type: ignore[assignment]
        return results

    # ---------------------------------------------------------------- edges
    def _edge_deps(self, edge: Edge, op: Op, pieces: list[Piece], tiles: int) -> Deps:
        """For every (core, tile) of ``op``, the tasks it waits for along ``edge``."""
        sources = self._edge_sources(edge, op, tiles)
        tile_edge = edge.mode is EdgeMode.TILE
        deps: Deps = {}
        everything: dict[int, list[int]] = {}  # view (-1: the producer's own) -> all its tasks
        for piece in pieces:
            for tile in range(tiles):
                if sources is not None:
                    at = tile if len(sources) > 1 else 0
                    got = sources[at].get(piece.core)
                    if got is None:  # this core did not receive: wait for all arrivals
                        got = everything.get(at)
                        if got is None:
                            got = everything[at] = _all_tasks(sources[at])
                else:
                    local = self.out[edge.src].get(piece.core)
                    if local is None:
                        got = everything.get(-1)
                        if got is None:
                            got = everything[-1] = _all_tasks(self.out[edge.src])
                    elif tile_edge and len(local) == tiles:
                        got = [local[tile]]
                    else:
                        got = list(local)
                deps[piece.core, tile] = got
        return deps

    def _edge_sources(self, edge: Edge, op: Op, tiles: int) -> list[dict[int, list[int]]] | None:
        """The data movement ``edge`` needs, appended once (memoized where shared):
        the views (core -> tasks holding the data) ``op``'s tiles read, one per
        tile or one for all; None if every piece reads its own core's producer
        tasks (a core without any waits for all of them)."""
        producer = self.graph.op(edge.src)
        src_layout, dst_layout = self.layout[edge.src], self.layout[op.name]
        group = self.group[op.name]
        tile_edge = edge.mode is EdgeMode.TILE
        sources: list[dict[int, list[int]]] | None = None
        same_group = self.group[edge.src].index == group.index
        needs_full = (dst_layout == "slice" and op.role == "linear") or (
            dst_layout == "rows" and not (src_layout == "slice" and same_group)) or (
            dst_layout == "attn" and src_layout not in ("attn", "rows"))
        if src_layout == "rows" and len(group.cores) > 1:  # partial sums: all-reduce first
            sources = [self._partial_sums(edge.src, group)]
        elif needs_full:
            sources = self._all_gather(edge, group, tiles if tile_edge else 1, op)
        elif self.group[edge.src].index != group.index:
            sources = [self._relocated(edge.src, group)]
        elif src_layout == "slice" and dst_layout == "every":  # statistics -> scalar
            stats = 2 if producer.attrs.get("norm") == "layernorm" else 1
            rows = producer.shape.rows
            sources = [self._collective("all_reduce", group.cores,
                                       rows * stats * _PARTIAL_BYTES, self.out[edge.src],
                                       f"{op.name}<{edge.src}.allreduce",
                                       purpose="normalization_comm",
                                       algorithm=self._in_routers(producer))]
        elif src_layout == "attn" and dst_layout == "attn_root":
            sources = self._set_reduce(edge.src, op, chunked=tile_edge)
        elif src_layout == "attn" and dst_layout == "attn" and (
            (producer.role == "softmax.max" and producer.max_scope != "local")
            or (producer.role == "norm.stats" and op.role == "norm.scalar")
        ):
            reduce_op = "max" if producer.role == "softmax.max" else "sum"
            sources = self._set_reduce(edge.src, op, chunked=False, kind="all_reduce",
                                       reduce_op=reduce_op)
        return sources

    # ---------------------------------------------------------------- ops
    def lower_op(self, op: Op) -> None:
        group, layout, attention = self._place(op)
        pieces = op_pieces(op, layout, group, attention)
        self.pieces[op.name] = pieces
        tiles = self._record(op, group, layout, pieces)
        for core, size in stored_bytes(op, pieces, self.bits).items():
            self.stored[core] = self.stored.get(core, 0) + size
        deps: Deps = {(p.core, t): [] for p in pieces for t in range(tiles)}
        for edge in self.graph.predecessors(op.name):
            for key, got in self._edge_deps(edge, op, pieces, tiles).items():
                deps[key].extend(got)
        category = Category.MATMUL if op.kind is OpKind.MATMUL else Category.SIMD
        engines = self.net.engines.matmul if op.kind is OpKind.MATMUL else self.net.engines.simd
        out: dict[int, list[int]] = {}
        costs: dict[MatmulShape | SimdShape, list[EngineCost]] = {}  # piece shape -> per tile
        tasks, name = self.tasks, op.name
        for piece in pieces:
            core, shape = piece.core, piece.shape
            tile_costs = costs.get(shape)
            if tile_costs is None:
                tile_costs = costs[shape] = self._tile_costs(op, shape)
            indices = []
            for tile, cost in enumerate(tile_costs):
                indices.append(len(tasks))
                suffix = f"[{tile}]" if tiles > 1 else ""
                tasks.append(Task(  # positional: name, op, tile, engine, cycles, latency, ...
                    f"{name}@c{core}{suffix}", name, tile, engines[core], cost.occupancy_cycles,
                    cost.result_latency_cycles, category, tuple(sorted(set(deps[core, tile]))),
                ))
            out[core] = indices
        self.out[op.name] = out

    def _place(self, op: Op) -> tuple[LayerGroup, str, AttentionSets | None]:
        """Where ``op`` runs: its layer's group, its layout and (attention work) the
        layer's attention sets."""
        group = self.groups[op.attrs.get("layer", 0) % len(self.groups)]
        layout = op_layout(op, self.graph, self.schedule.linear_split)
        return group, layout, self._attention(op, group) if layout.startswith("attn") else None

    def _record(self, op: Op, group: LayerGroup, layout: str, pieces: Pieces) -> int:
        """Note ``op``'s placement, purpose and tiling; return its number of tiles."""
        self.layout[op.name], self.group[op.name] = layout, group
        if op.role.startswith(("norm.", "softmax.")):
            self.purposes[op.name] = "normalization"
        shapes = pieces.shapes
        self.tile_elems[op.name] = self._tile_elems(op, shapes)
        tiles = 1 if op.tiling is None else max(
            len(tile_extents(getattr(shape, _tile_field(op)), self.tile_elems[op.name]))
            for shape in shapes)
        self.tiles[op.name] = tiles
        return tiles

    def _tile_costs(self, op: Op, shape: MatmulShape | SimdShape) -> list[EngineCost]:
        """The cost of every tile of a piece of ``shape`` of ``op``: one per tile of the
        op (a piece with fewer tiles gets empty ones), or one for an untiled op."""
        if op.tiling is None:
            return [_cost(shape, self.machine)]
        field = _tile_field(op)
        lengths = self._tile_lengths(op, getattr(shape, field))
        costs = {n: _cost(replace(shape, **{field: n}), self.machine) for n in set(lengths)}
        return [costs[n] for n in lengths]

    def lower_collective(self, op: Op) -> None:
        shape = op.shape
        if not isinstance(shape, CollectiveShape):
            raise GraphError(f"mapping: collective op {op.name!r} has no CollectiveShape")
        cores = shape.participants or tuple(range(self.machine.hierarchy.total_cores))
        options = collective_options(self.machine, reduce_op=shape.reduce_op, root=shape.root,
                                     arity=shape.arity)
        if self.closed_form:
            self._lower_closed_form_collective(op, shape, cores, options)
            return
        result = append_collective(self.tasks, self.net.router, self.net.engines, shape.op,
                                   shape.algorithm, cores, shape.nbytes, options=options,
                                   name=op.name)
        self.closed_forms[op.name] = result.latency_cycles
        self.out[op.name] = {c: list(d) for c, d in result.done.items()}
        self.layout[op.name] = "collective"

    def _lower_closed_form_collective(self, op: Op, shape: CollectiveShape,
                                      cores: tuple[int, ...], options: CollectiveOptions) -> None:
        self.out[op.name] = self._closed_form_collective(
            op.name, shape.op, shape.algorithm, cores, shape.nbytes, options, [])
        self.closed_forms[op.name] = max(self.tasks[i[0]].duration_cycles
                                         for i in self.out[op.name].values())
        self.layout[op.name] = "collective"


@paused_gc()  # tasks, pieces and collectives are acyclic: no collection passes meanwhile
def lower(graph: OpGraph, machine: MachineConfig, schedule: ScheduleConfig,
          interconnect: Interconnect | None = None,
          bits: dict[str, int] | None = None,
          collectives: CollectiveMode = "hops") -> Lowered:
    """Turn ``graph`` into tasks with cost-model durations and inserted collectives.

    ``bits`` gives ``weight`` and ``activation`` bits per element (default 8
    and 16). ``interconnect`` defaults to the machine's own. ``collectives``:
    ``hops`` (every message hop a task on its link, as the DES runs) or
    ``closed_form`` (contention-free closed-form tasks; module docstring).

    Raises
    ------
    CapacityError
        If some core must store more weights and KV cache than its SRAM.
    """
    net = interconnect or build_interconnect(machine)
    state = _Lowering(graph, machine, schedule, net,
                      bits or {"weight": 8, "activation": 16}, collectives)
    for op in graph.topological_order("mapping"):
        if op.kind is OpKind.COLLECTIVE:
            state.lower_collective(op)
        else:
            state.lower_op(op)
    check_capacity(state.stored, machine)
    taskgraph = TaskGraph(net.engines.engines + tuple(state.private_engines), tuple(state.tasks))
    taskgraph.validate("mapping")
    return Lowered(taskgraph, net, state.closed_forms, state.purposes)
