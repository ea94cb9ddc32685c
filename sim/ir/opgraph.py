"""OpGraph: the machine-independent graph of operations of a workload.

An op is either a matrix multiply (runs on a matmul engine) or a SIMD op (runs
on a SIMD unit). Edges carry data. A strategy pass rewrites an OpGraph into
another; the mapping lowers it into a TaskGraph.

Tiling. An op may be *tiled* along one axis: ``in`` splits a matmul's input
features (rows of W; row-major streaming), ``out`` its output features (columns
of W; column-major). A SIMD op tiled along an axis splits its columns into the
same tiles. The tile *size* is the mapping's choice (it depends on the machine);
the pass only says which axis. An edge in ``tile`` mode joins tile *i* of the
producer to tile *i* of the consumer, so both must be tiled identically; an edge
in ``all`` mode makes every consumer tile wait for every producer tile.

Examples
--------
>>> g = OpGraph.build(
...     [Op("x2", OpKind.SIMD, SimdShape(SimdPattern.REDUCE, 1, 8, ("fma",)), Role.NORM_STATS),
...      Op("lin", OpKind.MATMUL, MatmulShape(1, 8, 4), Role.LINEAR)],
...     [Edge("x2", "lin")], where="example")
>>> [op.name for op in g.topological_order()]
['x2', 'lin']
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sim.errors import GraphError

__all__ = [
    "CollectiveShape",
    "Edge",
    "EdgeMode",
    "MatmulShape",
    "MaxScope",
    "Op",
    "OpGraph",
    "OpKind",
    "Role",
    "SimdPattern",
    "SimdShape",
    "TileAxis",
    "Tiling",
    "TransferShape",
]


class OpKind(StrEnum):
    """Which kind of engine executes the op."""

    MATMUL = "matmul"
    SIMD = "simd"
    COLLECTIVE = "collective"
    #: Data moved over the host link, out of the card's LPDDR, or stored into SRAM
    #: (`TransferShape`); timed on the SIMD unit of the cores that receive it.
    TRANSFER = "transfer"


class Role(StrEnum):
    """What an op computes: the one vocabulary of the workloads, the strategy
    passes, the mapping and the numeric backend (a `StrEnum`, so a role
    compares equal to its string, ``Role.LINEAR == "linear"``).

    - ``input``: the workload's source activations (no time);
    - ``norm.stats``, ``norm.scalar``, ``norm.apply``: a normalization's sums
      (Σx, Σx², or a softmax row's Σexp), its per-row scalar, and the
      normalize step; ``norm.scale_out``: the deferred epilogue ``r·y (+ b')``
      (attr ``norm`` says which normalization);
    - ``softmax.max``, ``softmax.exp``: a softmax row's max and ``exp(s − c)``;
    - ``linear``: a weight-stationary matmul; ``attn.scores`` (Q·Kᵀ) and
      ``attn.pv`` (P·V): attention matmuls on the KV cache;
    - ``residual``, ``ffn.act``: the residual add and the FFN activation;
    - ``collective.<op>``: the single collective of a ``collective`` workload;
    - whole-model ops (``workload.whole_model``, `sim.workload.whole_model`):
      ``host.in`` / ``host.out`` (token ids over the host link), ``embed.lookup``
      (the embedding rows read from LPDDR), ``kv.append`` (a block's new K and V
      stored into the KV cache), ``select.last_token`` (prefill: each
      sequence's last token, the one the head samples from), ``sample.local``
      (each core's best candidates of its vocabulary slice) and ``sample.pick``
      (the root's choice among the reduced candidates).
    """

    INPUT = "input"
    NORM_STATS = "norm.stats"
    NORM_SCALAR = "norm.scalar"
    NORM_APPLY = "norm.apply"
    NORM_SCALE_OUT = "norm.scale_out"
    SOFTMAX_MAX = "softmax.max"
    SOFTMAX_EXP = "softmax.exp"
    LINEAR = "linear"
    ATTN_SCORES = "attn.scores"
    ATTN_PV = "attn.pv"
    RESIDUAL = "residual"
    FFN_ACT = "ffn.act"
    COLLECTIVE_REDUCE = "collective.reduce"
    COLLECTIVE_BROADCAST = "collective.broadcast"
    COLLECTIVE_ALL_REDUCE = "collective.all_reduce"
    COLLECTIVE_ALL_GATHER = "collective.all_gather"
    HOST_IN = "host.in"
    HOST_OUT = "host.out"
    EMBED = "embed.lookup"
    KV_APPEND = "kv.append"
    TOKEN_SELECT = "select.last_token"
    SAMPLE_LOCAL = "sample.local"
    SAMPLE_PICK = "sample.pick"


class MaxScope(StrEnum):
    """Which maximum a ``softmax.max`` op computes for the ``exp(s − c)`` after it.

    - ``global``: the true row max over every key, so the cores sharing a row's
      keys all-reduce their maxima (a collective);
    - ``local``: each core's max over its own keys, no collective: exact once
      the per-core partials are rescaled by ``exp(c_core − c)`` (deferred softmax).
    """

    GLOBAL = "global"
    LOCAL = "local"


class SimdPattern(StrEnum):
    """The access pattern of a SIMD op over its ``rows x cols`` operand.

    - ``reduce``: every row is reduced to one value (cols in vectors, then the
      cross-lane tree);
    - ``elementwise``: every element is transformed;
    - ``rowscalar``: one value per row is transformed (the per-token scalar).
    """

    REDUCE = "reduce"
    ELEMENTWISE = "elementwise"
    ROWSCALAR = "rowscalar"


class TileAxis(StrEnum):
    """The axis a tiled op is split along (see the module docstring)."""

    IN = "in"
    OUT = "out"


class EdgeMode(StrEnum):
    """How consumer tiles depend on producer tiles."""

    ALL = "all"
    TILE = "tile"


@dataclass(frozen=True, slots=True)
class MatmulShape:
    """``tokens`` vectors of ``in_features`` times an ``in_features x out_features``
    matrix, ``groups`` times over independent operands (attention heads)."""

    tokens: int
    in_features: int
    out_features: int
    groups: int = 1


@dataclass(frozen=True, slots=True)
class SimdShape:
    """A SIMD op over a ``rows x cols`` operand executing ``instrs`` per element-vector."""

    pattern: SimdPattern
    rows: int
    cols: int
    instrs: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TransferShape(SimdShape):
    """``rows x cols`` elements of ``elem_bits`` bits each moved over ``medium``:
    ``host`` (the host link), ``lpddr`` (read from the card's LPDDR) or ``sram``
    (stored into SRAM by the SIMD unit). Build it with `TransferShape.of`.

    As a `SimdShape` it is an elementwise pass without instructions over its
    ``rows x cols`` (so its columns split over cores as a SIMD op's do); what it
    costs is the transfer's (`sim.hardware.model_ops`), never the SIMD pass's.

    >>> TransferShape.of("host", 2, 1, 32).medium
    'host'
    """

    medium: str = "host"
    elem_bits: int = 8

    @classmethod
    def of(cls, medium: str, rows: int, cols: int, elem_bits: int) -> TransferShape:
        """The transfer of ``rows x cols`` elements of ``elem_bits`` over ``medium``."""
        return cls(SimdPattern.ELEMENTWISE, rows, cols, (), medium, elem_bits)


@dataclass(frozen=True, slots=True)
class CollectiveShape:
    """A collective over cores: ``op`` (reduce, broadcast, all_reduce,
    all_gather) of ``nbytes`` per participant with ``algorithm``.

    ``participants`` None means every core of the machine (resolved by the mapping).
    """

    op: str
    algorithm: str
    nbytes: int
    participants: tuple[int, ...] | None = None
    root: int | None = None
    reduce_op: str = "sum"
    arity: int = 2


@dataclass(frozen=True, slots=True)
class Tiling:
    """Split an op along ``axis`` whose length is ``extent_elems``."""

    axis: TileAxis
    extent_elems: int


@dataclass(frozen=True, slots=True)
class Op:
    """One operation.

    Attributes
    ----------
    name : str
        Unique in its graph.
    kind : OpKind
        Engine kind; must match the shape type.
    shape : MatmulShape, SimdShape (a TransferShape is one) or CollectiveShape
    role : str
        What the op computes: a `Role` (plain strings compare equal; the numeric
        backend rejects a role it does not know, naming it).
    tiling : Tiling or None
        None: the op runs as one task.
    attrs : mapping
        Role-specific facts of the workload and of the numerics (``norm``:
        ``rmsnorm``/``layernorm``/``softmax``; ``bias``: bool; ``layer``;
        ``folded_norm``, ``static_norm``: how a strategy folded a norm into a
        linear's weights).
    reduce_in_network : bool
        A strategy's hint to the mapping: the collective reducing this op's
        output (a ``norm.stats`` sum or a ``softmax.max``) runs in the routers
        (the ``in_network`` algorithm) instead of ``schedule.reduction_algorithm``.
        Default False.
    max_scope : MaxScope
        For a ``softmax.max``: whether the mapping must all-reduce the maxima
        of the cores sharing a row (``global``, the default) or each core keeps
        its own (``local``); the numeric backend computes the same max. Ignored
        by other roles.
    """

    name: str
    kind: OpKind
    shape: MatmulShape | SimdShape | CollectiveShape
    role: str
    tiling: Tiling | None = None
    attrs: Mapping[str, Any] = field(default_factory=dict)
    reduce_in_network: bool = False
    max_scope: MaxScope = MaxScope.GLOBAL


@dataclass(frozen=True, slots=True)
class Edge:
    """Data flows from op ``src`` to op ``dst``."""

    src: str
    dst: str
    mode: EdgeMode = EdgeMode.ALL


@dataclass(frozen=True)
class OpGraph:
    """An immutable, validated DAG of ops. Build it with `OpGraph.build`."""

    ops: tuple[Op, ...]
    edges: tuple[Edge, ...]
    _by_name: dict[str, Op] = field(repr=False, compare=False, default_factory=dict)
    # edges into / out of each op, in graph order: indexed on first use
    _into: dict[str, list[Edge]] = field(repr=False, compare=False, default_factory=dict)
    _out_of: dict[str, list[Edge]] = field(repr=False, compare=False, default_factory=dict)

    @classmethod
    def build(cls, ops: Iterable[Op], edges: Iterable[Edge], where: str) -> OpGraph:
        """Create and validate a graph; ``where`` names the builder or pass in errors."""
        ops_t, edges_t = tuple(ops), tuple(edges)
        graph = cls(ops_t, edges_t, {op.name: op for op in ops_t})
        graph.validate(where)
        return graph

    def op(self, name: str) -> Op:
        """The op called ``name``."""
        return self._by_name[name]

    def predecessors(self, name: str) -> list[Edge]:
        """Edges into ``name``, in graph order."""
        self._index_edges()
        return list(self._into.get(name, ()))

    def successors(self, name: str) -> list[Edge]:
        """Edges out of ``name``, in graph order."""
        self._index_edges()
        return list(self._out_of.get(name, ()))

    def _index_edges(self) -> None:
        if self._into or self._out_of or not self.edges:
            return
        for edge in self.edges:
            self._into.setdefault(edge.dst, []).append(edge)
            self._out_of.setdefault(edge.src, []).append(edge)

    def validate(self, where: str) -> None:
        """Check names, shapes, tilings and acyclicity.

        Raises
        ------
        GraphError
            Naming ``where`` and the first broken invariant.
        """
        if len(self._by_name) != len(self.ops):
            raise GraphError(f"{where}: duplicate op names")
        for op in self.ops:
            expected = {OpKind.MATMUL: MatmulShape, OpKind.SIMD: SimdShape,
                        OpKind.COLLECTIVE: CollectiveShape,
                        OpKind.TRANSFER: TransferShape}[op.kind]
            if not isinstance(op.shape, expected):
                raise GraphError(f"{where}: op {op.name!r} of kind {op.kind} has a wrong shape")
        seen: set[tuple[str, str]] = set()
        for edge in self.edges:
            for end in (edge.src, edge.dst):
                if end not in self._by_name:
                    raise GraphError(f"{where}: edge {edge.src}->{edge.dst} names unknown op")
            if (edge.src, edge.dst) in seen:
                raise GraphError(f"{where}: duplicate edge {edge.src}->{edge.dst}")
            seen.add((edge.src, edge.dst))
            if edge.mode is EdgeMode.TILE:
                src_t, dst_t = self._by_name[edge.src].tiling, self._by_name[edge.dst].tiling
                if src_t is None or src_t != dst_t:
                    raise GraphError(
                        f"{where}: tile edge {edge.src}->{edge.dst} joins differently tiled ops"
                    )
        self.topological_order(where)

    def topological_order(self, where: str = "OpGraph") -> list[Op]:
        """Ops in dependency order; ties keep the order ops were listed (stable)."""
        indegree = {op.name: 0 for op in self.ops}
        for edge in self.edges:
            indegree[edge.dst] += 1
        order: list[Op] = []
        ready = [op for op in self.ops if indegree[op.name] == 0]
        position = {op.name: i for i, op in enumerate(self.ops)}
        while ready:
            ready.sort(key=lambda op: position[op.name])
            op = ready.pop(0)
            order.append(op)
            for edge in self.successors(op.name):
                indegree[edge.dst] -= 1
                if indegree[edge.dst] == 0:
                    ready.append(self._by_name[edge.dst])
        if len(order) != len(self.ops):
            stuck = sorted(n for n, d in indegree.items() if d > 0)
            raise GraphError(f"{where}: cycle through ops {stuck}")
        return order
