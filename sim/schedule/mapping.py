"""The mapping: place a rewritten OpGraph on the machine's cores as a LoweringPlan.

Placement (`sim.schedule.placement`): each layer runs on a group of cores,
every op cut into per-core pieces by its role. Each piece has one tile per
cut of its tiling, with cost-model cycles per tile.

Where an edge joins ops laid out differently, the mapping inserts the data
movement as a collective (algorithm ``schedule.gather_algorithm`` for
all-gathers, ``schedule.reduction_algorithm`` for the rest):

============================== =============================== ======================
producer -> consumer           movement                        bytes per core
============================== =============================== ======================
slice -> linear / attention /  all-gather over the group       the slice (activations)
local statistics
slice stats -> scalar          all-reduce over the group       4 per token and sum
attn max -> exp (global max)   all-reduce (max) in each set    4 per row
attn sums -> scalar            all-reduce (every core needs    4 per row
                               it) or reduce to the set root
attn P·V -> set root / linear  reduce in each set (+ all-      4 per output element
                               gather for a linear)
rows (partial sums) -> any     all-reduce over the group       4 per output element
slice -> 2d linear             all-gather in each grid row     the slice
2d (partial sums) -> any       reduce-scatter in each grid     4 per output element
                               column (a reduce per slice)
layer L -> layer L+1 (other    core i sends its slice to       the slice
group)                         core i of the next group
============================== =============================== ======================

(2d tiling: `sim.schedule.grid`; local statistics and who decides what:
`sim.schedule.decisions`.)
Other edges stay on the core (a piece waits for the producer's piece on the
same core, or for all of them if it has none there). A ``tile`` edge joins
tile t to tile t; through an all-gather the gather is cut into one chunk per
consumer tile, chunk t waiting only for the producer tiles whose columns it
carries. Steps are planned in topological op order, each op after the
movements its inputs need: the program order every reader numbers tasks in.
Collective ops of a ``collective`` workload run over their participants as
given. What the steps become in time is for the readers (`sim.backends`).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from itertools import pairwise

import numpy as np

from sim.config import MachineConfig, ScheduleConfig
from sim.errors import GraphError
from sim.gcpause import paused_gc
from sim.ir import (
    CollectiveShape,
    Edge,
    EdgeMode,
    MatmulShape,
    MaxScope,
    Op,
    OpGraph,
    OpKind,
    Role,
    SimdShape,
)
from sim.ir.plan import (
    CollectiveStep,
    Contribution,
    Input,
    Layout,
    LoweringPlan,
    MappingChoice,
    MessageStep,
    MoveKind,
    MoveStep,
    OpStep,
    Purpose,
    Request,
    Step,
    ViewRef,
)
from sim.schedule import model_ops as _model_ops
from sim.schedule.decisions import decide, largest_stored, layer_group, placed_layout, placed_pieces
from sim.schedule.grid import PARTIAL_BYTES as _PARTIAL_BYTES  # sums, statistics: fp32
from sim.schedule.grid import reduce_scatter, row_gather
from sim.schedule.model_ops import candidates_reduce, piece_costs, reads_card_lpddr, step_category
from sim.schedule.placement import (
    AttentionSets,
    LayerGroup,
    Pieces,
    attention_sets,
    decoder_layers,
    layer_groups,
    piece_stored_bytes,
    pipeline_stages,
)
from sim.schedule.tiers import place_tiers, stored_ops
from sim.schedule.tiling import OpTiles, column_spans, op_tiles

__all__ = ["build_plan"]

#: The default bits per weight and per activation element.
DEFAULT_BITS = {"weight": 8, "activation": 16}
_ints = partial(np.asarray, dtype=np.int64)


class _Planner:
    """Builds the plan of one graph (state of a single `build_plan` call)."""

    def __init__(self, graph: OpGraph, machine: MachineConfig, schedule: ScheduleConfig,
                 bits: dict[str, int], choice: MappingChoice) -> None:
        self.graph, self.machine, self.schedule, self.bits = graph, machine, schedule, bits
        self.groups = layer_groups(machine, schedule)
        self.stages = pipeline_stages(decoder_layers(graph), len(self.groups), schedule)
        self.tilings, self.norm_stats = decide(graph, self.groups, schedule, bits, choice,
                                               self.stages)
        self.stored_by_op: list[tuple[str, np.ndarray, np.ndarray]] = []
        self.steps: list[Step] = []
        self.index: dict[str, int] = {}  # op name -> its step
        self.pieces: dict[str, Pieces] = {}
        self.layout: dict[str, Layout] = {}
        self.group: dict[str, LayerGroup] = {}
        self.tiling: dict[str, OpTiles] = {}
        self.attention: dict[int, AttentionSets] = {}
        self.purposes: dict[str, Purpose] = {}
        self.stored = np.zeros(machine.hierarchy.total_cores, dtype=np.int64)
        self._memo: dict[tuple[object, ...], list[ViewRef]] = {}

    def _add(self, step: Step) -> int:
        self.steps.append(step)
        return len(self.steps) - 1

    # ---------------------------------------------------------------- placement
    def _attention(self, op: Op, group: LayerGroup) -> AttentionSets | None:
        layer = op.attrs.get("layer", 0)
        if layer not in self.attention:
            scores = next((o for o in self.graph.ops if o.role == Role.ATTN_SCORES
                           and o.attrs.get("layer", 0) == layer), None)
            if scores is None:
                return None
            if not isinstance(scores.shape, MatmulShape):
                raise GraphError(f"mapping: {scores.name!r} must be a matmul")
            self.attention[layer] = attention_sets(scores.shape, group, self.schedule)
        return self.attention[layer]

    def _bytes(self, shape: MatmulShape | SimdShape) -> int:
        """Activation bytes of a piece's output."""
        elems = (shape.tokens * shape.groups * shape.out_features
                 if isinstance(shape, MatmulShape) else shape.rows * shape.cols)
        return -(-elems * self.bits["activation"] // 8)

    def _sets(self, producer: str) -> AttentionSets:
        return self.attention[self.graph.op(producer).attrs.get("layer", 0)]

    # ---------------------------------------------------------------- movement
    def _moves(self, kind: MoveKind, requests: list[Request], *, purpose: Purpose,
               reduce_op: str = "sum", algorithm: str | None = None) -> int:
        """Plan collectives of ``kind`` one after another; return their step."""
        algorithm = algorithm or (self.schedule.gather_algorithm if kind is MoveKind.ALL_GATHER
                                  else self.schedule.reduction_algorithm)
        for request in requests:
            self.purposes[request.name] = purpose
        return self._add(MoveStep(kind, algorithm, reduce_op, self.schedule.collective_arity,
                                  purpose, tuple(requests)))

    def _request(self, cores: tuple[int, ...], nbytes: int, name: str, source: ViewRef,
                 elements: np.ndarray | None = None, per_core: bool = True,
                 root: int | None = None) -> Request:
        return Request(cores, max(1, nbytes), name, root,
                       Contribution(source, elements, per_core))

    def _relocated(self, producer: str, group: LayerGroup) -> ViewRef:
        """The producer's slices moved core by core onto ``group`` (layer boundary)."""
        key = ("move", producer, group.index)
        if key not in self._memo:
            pieces = list(zip(self.pieces[producer], group.cores, strict=False))
            name = f"{producer}>move"
            self.purposes[name] = Purpose.DATA_COMM
            step = self._add(MessageStep(
                self.index[producer], tuple(p.core for p, _ in pieces),
                tuple(dst for _, dst in pieces),
                tuple(max(1, self._bytes(p.shape)) for p, _ in pieces),
                tuple(f"{producer}>g{group.index}.{p.core}" for p, _ in pieces), name))
            self._memo[key] = [ViewRef(step)]
        return self._memo[key][0]

    def _gather_sources(self, edge: Edge, group: LayerGroup, consumer: Op
                        ) -> tuple[ViewRef, Layout, bool]:
        """What an all-gather of ``edge`` onto ``group`` collects: the producer's
        output, its partials reduced in each attention set (P·V), or its slices
        moved onto ``group``; their layout; and whether they moved."""
        layout = self.layout[edge.src]
        sources = ViewRef(self.index[edge.src])
        if layout is Layout.ATTN:  # P·V partials: reduce inside each set first
            sources = self._set_reduce(edge.src, consumer, chunked=False)[0]
            layout = Layout.ATTN_ROOT
        elif layout is Layout.GRID:  # 2d partials: reduce-scatter first, then each its slice
            sources, layout = self._grid_reduce(edge.src)[0], Layout.SLICE
        moved = self.group[edge.src].index != group.index
        if moved:
            sources = self._relocated(edge.src, group)
        return sources, layout, moved

    def _all_gather(self, edge: Edge, group: LayerGroup, chunks: int,
                    consumer: Op) -> list[ViewRef]:
        """All-gather of the producer's output onto every core of ``group``, in
        ``chunks`` chunks (one per consumer tile along the gathered columns)."""
        key = ("gather", edge.src, group.index, chunks)
        if key in self._memo:
            return self._memo[key]
        sources, layout, moved = self._gather_sources(edge, group, consumer)
        pieces = self.pieces[edge.src]
        shape_bytes = [self._bytes(s) for s in pieces.shapes]  # per distinct piece shape
        if layout is Layout.SLICE and chunks > 1 and not moved and (
                self.layout[edge.src] is Layout.SLICE):
            per_core = max(shape_bytes)
            starts, ends, total = column_spans(self.graph.op(edge.src), pieces.shapes,
                                               pieces.which, self.tiling[edge.src])
            bounds = np.cumsum([0, *self.tiling[consumer.name].lengths(total)])
            held = (ends > starts).reshape(-1)  # empty tiles carry nothing
            starts, ends = starts.reshape(-1), ends.reshape(-1)
            step = self._moves(MoveKind.ALL_GATHER, [
                self._request(group.cores, -(-per_core // chunks),
                              f"{consumer.name}<{edge.src}.gather{chunk}", sources,
                              np.flatnonzero(held & (starts < hi) & (ends > lo)))
                for chunk, (lo, hi) in enumerate(pairwise(bounds.tolist()))],
                purpose=Purpose.DATA_COMM)
            result = [ViewRef(step, chunk) for chunk in range(chunks)]
        else:
            if self.layout[edge.src] is Layout.ATTN:  # after the set reduce: the roots' data
                roots = {members[0] for members in self._sets(edge.src).sets}
                total_bytes = sum(self._bytes(p.shape) for p in pieces if p.core in roots)
            elif layout is Layout.EVERY:
                total_bytes = self._bytes(pieces.shapes[0])
            elif self.layout[edge.src] is Layout.GRID:  # the reduced slices: the whole output
                total_bytes = self._bytes(self.graph.op(edge.src).shape)  # type: ignore[arg-type]
            else:
                total_bytes = sum(shape_bytes[w] for w in pieces.which)
            step = self._moves(MoveKind.ALL_GATHER, [self._request(
                group.cores, -(-total_bytes // len(group.cores)),
                f"{consumer.name}<{edge.src}.gather", sources,
                per_core=layout is Layout.SLICE)], purpose=Purpose.DATA_COMM)
            result = [ViewRef(step)] * chunks
        self._memo[key] = result
        return result

    def sums(self, producer: str) -> list[ViewRef] | None:
        """A row- or 2d-split linear's partial sums (fp32) reduced: the 2d split's
        reduce-scatter (`sim.schedule.grid`), or the row split's all-reduce over the
        group, after which every core holds the whole output (None on one core)."""
        if self.layout[producer] is Layout.GRID:
            return self._grid_reduce(producer)
        shape, cores = self.pieces[producer][0].shape, self.group[producer].cores
        if not isinstance(shape, MatmulShape) or len(cores) == 1:
            return None
        nbytes = shape.tokens * shape.groups * shape.out_features * _PARTIAL_BYTES
        return self._once(("partials", producer), MoveKind.ALL_REDUCE, lambda: [self._request(
            cores, nbytes, f"{producer}.partials", ViewRef(self.index[producer]))])

    def _once(self, key: tuple[object, ...], kind: MoveKind,
              requests: Callable[[], list[Request]]) -> list[ViewRef]:
        """One data movement step of ``requests()``, planned the first time ``key`` is."""
        if key not in self._memo:  # (memoized: several consumers share one movement)
            self._memo[key] = [ViewRef(self._moves(kind, requests(), purpose=Purpose.DATA_COMM))]
        return self._memo[key]

    def _grid_reduce(self, producer: str) -> list[ViewRef]:
        """Reduce-scatter of a 2d linear's partial sums in every grid column."""
        shape = self.graph.op(producer).shape
        tokens = shape.tokens * shape.groups if isinstance(shape, MatmulShape) else 0
        return self._once(("gridreduce", producer), MoveKind.REDUCE, lambda: reduce_scatter(
            self.tilings[producer], self.group[producer].cores, tokens,
            ViewRef(self.index[producer]), f"{producer}.partials"))

    def _set_reduce(self, producer: str, consumer: Op, chunked: bool,
                    kind: MoveKind = MoveKind.REDUCE, reduce_op: str = "sum") -> list[ViewRef]:
        """Reduce (or all-reduce) partials of an ``attn`` op inside every attention
        set: one step per chunk (one per tile if ``chunked``), one request per set."""
        key = (kind, producer, consumer.name if chunked else "", reduce_op)
        if key in self._memo:
            return self._memo[key]
        attention = self._sets(producer)
        source = self.graph.op(producer)
        tiles = self.tiling[producer].tiles if chunked else 1
        purpose = (Purpose.NORMALIZATION_COMM if source.role in (Role.SOFTMAX_MAX, Role.NORM_STATS)
                   else Purpose.DATA_COMM)
        pieces = self.pieces[producer]
        position = np.full(self.stored.size, -1, dtype=np.int64)  # core -> its piece
        position[_ints(pieces.cores)] = np.arange(len(pieces.cores))
        producer_tiles = self.tiling[producer].tiles
        set_bytes = []
        firsts = []
        for members in attention.sets:
            shape = pieces.shapes[pieces.which[int(position[members[0]])]]
            elems = (shape.tokens * shape.groups * shape.out_features
                     if isinstance(shape, MatmulShape) else shape.rows)
            set_bytes.append(-(-elems * _PARTIAL_BYTES // tiles))
            firsts.append(position[list(members)] * producer_tiles)
        every_tile = [(at[:, None] + np.arange(producer_tiles)).reshape(-1) for at in firsts]
        results = []
        for tile in range(tiles):
            step = self._moves(kind, [
                self._request(members, size, f"{consumer.name}<{producer}.{kind}{tile}.s{j}",
                              ViewRef(self.index[producer]),
                              firsts[j] + tile if chunked else every_tile[j], root=members[0])
                for j, (members, size) in enumerate(zip(attention.sets, set_bytes, strict=True))],
                purpose=purpose, reduce_op=reduce_op, algorithm=self._in_routers(source))
            results.append(ViewRef(step))
        self._memo[key] = results
        return results

    @staticmethod
    def _in_routers(producer: Op) -> str | None:
        """``in_network`` for statistics the strategy reduces in the routers."""
        return "in_network" if producer.reduce_in_network else None

    # ---------------------------------------------------------------- edges
    def _edge_sources(self, edge: Edge, op: Op, tiles: int) -> list[ViewRef] | None:
        """The data movement ``edge`` needs, planned once (memoized where shared):
        the views ``op``'s tiles read, one per tile or one for all; None if every
        piece reads its own core's producer tasks."""
        producer = self.graph.op(edge.src)
        src_layout, dst_layout = self.layout[edge.src], self.layout[op.name]
        group = self.group[op.name]
        tile_edge = edge.mode is EdgeMode.TILE
        same_group = self.group[edge.src].index == group.index
        if src_layout is Layout.EVERY and same_group:  # the whole vector on every core
            return None
        if producer.role == Role.SAMPLE_LOCAL and op.role == Role.SAMPLE_PICK and same_group:
            return candidates_reduce(producer, op, self.pieces[edge.src].cores,  # to the root
                                     ViewRef(self.index[edge.src]), self._moves)
        tiling = self.tilings.get(op.name)  # a 2d linear's input: each grid row's slices
        if dst_layout is Layout.GRID and src_layout is Layout.SLICE and same_group and (
                tiling and getattr(producer.shape, "cols", 0) == tiling.in_bounds[-1]):
            if tiling.grid_cols == 1:
                return None  # a P x 1 grid: each core's row is its own slice
            held = {p.core: self._bytes(p.shape) for p in self.pieces[edge.src]}
            return self._once(("rowgather", edge.src, group.index, tiling.grid_cols),
                              MoveKind.ALL_GATHER, lambda: row_gather(
                                  tiling, group.cores, held, ViewRef(self.index[edge.src]),
                                  f"{op.name}<{edge.src}.rowgather"))
        needs_full = (dst_layout in (Layout.SLICE, Layout.GRID) and op.role == Role.LINEAR) or (
            dst_layout is Layout.ROWS and not (src_layout is Layout.SLICE and same_group)) or (
            dst_layout is Layout.ATTN and src_layout not in (Layout.ATTN, Layout.ROWS)) or (
            dst_layout is Layout.EVERY and op.role in (Role.NORM_STATS, Role.NORM_APPLY))
        if (src_layout is Layout.ROWS and len(group.cores) > 1) or (
                src_layout is Layout.GRID and not needs_full):  # partial sums: reduced first
            if not same_group:
                raise GraphError(f"mapping: {edge.src} ({src_layout} split) feeds another group")
            return self.sums(edge.src)
        if needs_full:
            return self._all_gather(edge, group, tiles if tile_edge else 1, op)
        if not same_group:
            return [self._relocated(edge.src, group)]
        if src_layout is Layout.SLICE and dst_layout is Layout.EVERY:  # statistics -> scalar
            stats = 2 if producer.attrs.get("norm") == "layernorm" else 1
            if not isinstance(producer.shape, SimdShape):
                raise GraphError(f"mapping: statistics {producer.name!r} must be a SIMD op")
            step = self._moves(MoveKind.ALL_REDUCE, [self._request(
                group.cores, producer.shape.rows * stats * _PARTIAL_BYTES,
                f"{op.name}<{edge.src}.allreduce", ViewRef(self.index[edge.src]))],
                purpose=Purpose.NORMALIZATION_COMM, algorithm=self._in_routers(producer))
            return [ViewRef(step)]
        if src_layout is Layout.ATTN and dst_layout is Layout.ATTN_ROOT:
            return self._set_reduce(edge.src, op, chunked=tile_edge)
        if src_layout is Layout.ATTN and dst_layout is Layout.ATTN and (
            (producer.role == Role.SOFTMAX_MAX and producer.max_scope != MaxScope.LOCAL)
            or (producer.role == Role.NORM_STATS and op.role == Role.NORM_SCALAR)
        ):
            reduce_op = "max" if producer.role == Role.SOFTMAX_MAX else "sum"
            return self._set_reduce(edge.src, op, chunked=False, kind=MoveKind.ALL_REDUCE,
                                    reduce_op=reduce_op)
        return None

    # ---------------------------------------------------------------- ops
    def plan_op(self, op: Op) -> None:
        """Place ``op``, plan the movements its inputs need, then its own step."""
        group = layer_group(op, self.groups, self.stages)
        layout = placed_layout(op, self.graph, self.tilings, self.norm_stats)
        attention = (self._attention(op, group)
                     if layout in (Layout.ATTN, Layout.ATTN_ROOT) else None)
        pieces = placed_pieces(op, layout, group, attention, self.tilings.get(op.name))
        self.pieces[op.name], self.layout[op.name], self.group[op.name] = pieces, layout, group
        if op.role.startswith(("norm.", "softmax.")):
            self.purposes[op.name] = Purpose.NORMALIZATION
        cut = self.tiling[op.name] = op_tiles(op, pieces.shapes, self.machine, self.schedule)
        tiles = cut.tiles
        stored = [piece_stored_bytes(shape, op, self.bits) for shape in pieces.shapes]
        if any(stored):
            per_piece = _ints(stored)[_ints(pieces.which)]
            np.add.at(self.stored, _ints(pieces.cores), per_piece)
            self.stored_by_op.append((op.name, _ints(pieces.cores), per_piece))
        inputs = tuple(
            Input(self.index[edge.src], None if views is None else tuple(views),
                  edge.mode is EdgeMode.TILE)
            for edge in self.graph.predecessors(op.name)
            for views in (self._edge_sources(edge, op, tiles),))
        costs = piece_costs(op, pieces.shapes, cut, self.machine)
        self.index[op.name] = self._add(OpStep(
            op.name, op.kind, step_category(op), layout, group.index, pieces.cores, pieces.which,
            tiles, tuple(tuple(c.occupancy_cycles for c in row) for row in costs),
            tuple(tuple(c.result_latency_cycles for c in row) for row in costs), inputs,
            card_lpddr=reads_card_lpddr(op),
            tile_shapes=_model_ops.piece_tile_shapes(op, pieces.shapes, cut)))

    def plan_collective(self, op: Op) -> None:
        """A collective op of a ``collective`` workload, over its participants."""
        shape = op.shape
        if not isinstance(shape, CollectiveShape):
            raise GraphError(f"mapping: collective op {op.name!r} has no CollectiveShape")
        cores = shape.participants or tuple(range(self.machine.hierarchy.total_cores))
        self.layout[op.name] = Layout.COLLECTIVE
        self.index[op.name] = self._add(CollectiveStep(
            op.name, shape.op, shape.algorithm, tuple(cores), shape.nbytes, shape.reduce_op,
            shape.root, shape.arity))


@paused_gc()  # pieces and steps are acyclic: no collection passes meanwhile
def build_plan(graph: OpGraph, machine: MachineConfig, schedule: ScheduleConfig,
               bits: dict[str, int] | None = None,
               choice: MappingChoice | None = None) -> LoweringPlan:
    """Place ``graph`` on ``machine`` and plan its data movements (module docstring).

    ``bits`` gives ``weight`` and ``activation`` bits per element (default 8 and 16);
    ``choice`` the tiling of linears and the local statistics a search decided
    (what it leaves out follows ``schedule``).

    Raises
    ------
    CapacityError
        If the weights and KV cache fit neither SRAM nor LPDDR as
        ``machine.memory.placement`` places them (`sim.schedule.tiers`).
    GraphError
        If the graph has an op the mapping cannot place.
    """
    planner = _Planner(graph, machine, schedule, bits or DEFAULT_BITS, choice or MappingChoice())
    for op in graph.topological_order("mapping"):
        (planner.plan_collective if op.kind is OpKind.COLLECTIVE else planner.plan_op)(op)
    for op in graph.ops:  # a sink linear's output is its sums, not its partials
        if not graph.successors(op.name) and planner.layout[op.name] in (Layout.ROWS, Layout.GRID):
            planner.sums(op.name)
    fullest = int(np.argmax(planner.stored)) if planner.stored.size else 0  # SRAM tiers:
    ops = stored_ops(graph, planner.stored_by_op, planner.index)  # `sim.schedule.tiers`
    tiers = place_tiers(ops, machine, largest_stored(planner.stored_by_op, fullest,
                                                     planner.tilings))
    return LoweringPlan(tiers.apply(planner.steps, ops), planner.purposes,
                        machine.hierarchy.total_cores, tiers.sram_per_core, planner.tilings,
                        planner.norm_stats, tiers.tiers(ops), tiers.tier_bytes,
                        tiers.layer_tier_bytes)
