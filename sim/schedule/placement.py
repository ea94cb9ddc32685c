"""Where the ops of a layer run: layer groups of cores and each op's pieces.

A transformer layer is spread over a *group* of ``P = schedule.cores_per_layer``
consecutive cores (default: one chiplet); layer L goes to group L mod G, G the
number of groups the machine holds. Inside a group every op is cut into
*pieces*, one per core, by its role:

- ``slice`` layout: linears split their output features over the P cores
  (column-parallel: each core stores K x N/P weights and needs the whole
  input); elementwise and statistics ops on the hidden vector split its columns
  the same way, so core i holds columns i of every vector;
- ``rows`` layout (``schedule.linear_split: rows``): linears split their input
  features instead (row-parallel: each core stores K/P x N weights, reads its
  own slice of the input and produces partial sums of all N outputs);
- ``grid`` layout (``2d``): the group as an R x C grid, core (i, j) holds the
  weight block of input rows i and output columns j (`sim.schedule.grid`);
- ``every`` layout: the per-token scalar of RMSNorm/LayerNorm on every core
  (each computes it from the all-reduced sums); with local statistics
  (``schedule.norm_stats``) also the norm's statistics and normalize, on the
  whole vector, all-gathered raw;
- ``attn`` layout: attention runs per (sequence, KV head) *set*. When the group
  has more cores than sets, set j gets the *slot* of ``s = P // sets``
  consecutive cores starting at ``j s`` and spreads its keys over the first
  ``c`` of them (``c = schedule.attention_cores_per_set``, default and at most
  ``s``), so softmax maxima, sums and P·V partials need reductions inside the
  set. With fewer keys than cores some cores hold none (their contributions
  are the reductions' identities); with fewer than 8 keys the set keeps them on
  its first core. With fewer cores than sets, each core takes whole sets. The
  split does not follow the sequence length: a split that widens as keys grow
  (as an "at least k keys per core" rule does) makes latency *fall* when
  kv_len passes each step, and so does a set of k < c cores, whose irregular
  reduction tree on a mesh can be slower than the full slot's. Sets keep to
  their slots, so on a mesh the sets' routes stay apart;
- ``attn_root`` layout: the per-set result (the deferred softmax scale) on the
  set's first core.

Balanced splits: n items over k parts give the first ``n mod k`` parts one more.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from itertools import pairwise
from typing import NamedTuple, overload

from sim.config import MachineConfig, ScheduleConfig
from sim.errors import CapacityError, GraphError
from sim.ir import CollectiveShape, MatmulShape, Op, OpGraph, OpKind, Role, SimdShape
from sim.ir.plan import Layout

__all__ = [
    "AttentionSets",
    "LayerGroup",
    "Piece",
    "Pieces",
    "attention_sets",
    "balanced",
    "check_capacity",
    "decoder_layers",
    "group_of_layer",
    "layer_groups",
    "op_layout",
    "op_pieces",
    "piece_stored_bytes",
    "pipeline_stages",
    "stored_bytes",
    "streamed_fraction",
]

def balanced(total: int, parts: int) -> list[int]:
    """``total`` items over ``parts`` parts, as even as possible.

    >>> balanced(10, 4)
    [3, 3, 2, 2]
    """
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


@dataclass(frozen=True)
class LayerGroup:
    """The cores one layer runs on."""

    index: int
    cores: tuple[int, ...]


class Piece(NamedTuple):
    """The part of an op one core computes (a named tuple: an op has one per core)."""

    core: int
    shape: MatmulShape | SimdShape


@dataclass(frozen=True)
class AttentionSets:
    """Attention work of one layer group: the cores of every set, and its keys per core.

    ``sets[j]`` lists the cores of set j (its first core is the set's root);
    ``groups_per_core[core]`` the (sequence, KV head) pairs a core holds;
    ``keys_per_core[core]`` how many keys of each it holds.
    """

    sets: tuple[tuple[int, ...], ...]
    groups_per_core: dict[int, int]
    keys_per_core: dict[int, int]

    @property
    def split_keys(self) -> bool:
        """Whether some set spreads its keys over more than one core."""
        return any(len(s) > 1 for s in self.sets)

    @cached_property
    def work_index(self) -> tuple[list[tuple[int, int]], tuple[int, ...]]:
        """The distinct (sets, keys) a core holds, and for each core in
        ``groups_per_core`` order the index of its own: attention pieces have one
        shape per distinct work."""
        index: dict[tuple[int, int], int] = {}
        which = tuple(index.setdefault((sets, self.keys_per_core[core]), len(index))
                      for core, sets in self.groups_per_core.items())
        return list(index), which

    def set_of(self, core: int) -> tuple[int, ...]:
        """The set ``core`` belongs to."""
        return next(s for s in self.sets if core in s)


def layer_groups(machine: MachineConfig, schedule: ScheduleConfig) -> list[LayerGroup]:
    """The machine's cores cut into groups of ``cores_per_layer``.

    Raises
    ------
    CapacityError
        If ``cores_per_layer`` exceeds the machine's cores.
    """
    total = machine.hierarchy.total_cores
    size = schedule.cores_per_layer or machine.hierarchy.cores_per_chiplet
    if size > total:
        raise CapacityError(
            f"schedule.cores_per_layer: {size} cores per layer, the machine has {total}"
        )
    return [LayerGroup(g, tuple(range(g * size, (g + 1) * size))) for g in range(total // size)]


def pipeline_stages(layers: int, groups: int, schedule: ScheduleConfig, *,
                    always: bool = False) -> list[range] | None:
    """The layers of each pipeline stage, contiguous and balanced, if ``schedule``
    pipelines (``schedule.pipeline``: more than one micro-batch, or ``stages`` set)
    or ``always``; None otherwise (layers round robin over the groups). Entry g lists the layers
    of group g: stage s runs on group ``first_group + s``, the groups before
    ``first_group`` hold none (empty ranges). With ``head_stage`` a last entry
    holds "layer" ``layers``: the whole-model ops after the last block.

    ``stages`` defaults to one layer per group while there are groups, else every
    group. Ten layers in four stages, from group 0 and from group 2:

    >>> from sim.config import ScheduleConfig
    >>> pipeline_stages(10, 8, ScheduleConfig(pipeline={"stages": 4}))
    [range(0, 3), range(3, 6), range(6, 8), range(8, 10)]
    >>> pipeline_stages(3, 8, ScheduleConfig(pipeline={"stages": 3, "first_group": 2}))
    [range(0, 0), range(0, 0), range(0, 1), range(1, 2), range(2, 3)]

    Raises
    ------
    CapacityError
        If ``schedule.pipeline.stages`` exceeds the layer groups (from
        ``first_group`` on) or the layers.
    """
    pipeline = schedule.pipeline
    if not always and pipeline.micro_batches == 1 and pipeline.stages is None and (
            not pipeline.stage_layers):
        return None
    head = 1 if pipeline.head_stage else 0
    free = groups - pipeline.first_group - head
    counts = pipeline.stage_layers
    if counts is not None and (sum(counts) != layers or min(counts) < 1):
        raise CapacityError(f"schedule.pipeline.stage_layers: {counts} must be at least 1 each "
                            f"and sum to the workload's {layers} layers")
    stages = len(counts) if counts else pipeline.stages or min(layers, free)
    if stages > free or stages < 1:
        raise CapacityError(f"schedule.pipeline.stages: {stages} stages"
                            + (" and a head stage" if head else "")
                            + f" from group {pipeline.first_group} on, the machine has "
                            f"{groups} layer groups of schedule.cores_per_layer cores")
    if stages > layers:
        raise CapacityError(f"schedule.pipeline.stages: {stages} stages, the workload has "
                            f"{layers} layers")
    starts = [0]
    for count in counts or balanced(layers, stages):
        starts.append(starts[-1] + count)
    own = [range(layers, layers + 1)] * head  # whole-model ops carry layer = layers
    return [range(0)] * pipeline.first_group + [range(a, b) for a, b in pairwise(starts)] + own


def decoder_layers(graph: OpGraph) -> int:
    """How many decoder blocks ``graph`` holds: ops named ``L{l}.`` carry ``layer = l``
    (whole-model ops after the last block carry one past it, but no such name)."""
    blocks = [int(op.attrs["layer"]) for op in graph.ops
              if "layer" in op.attrs and op.name.startswith(f"L{op.attrs['layer']}.")]
    return max(blocks, default=0) + 1


def group_of_layer(layer: int, groups: int, stages: list[range] | None) -> int:
    """The group index layer ``layer`` runs on: the one whose `pipeline_stages`
    entry holds it, or round robin, ``layer mod groups``, without a pipeline. A
    layer past the last stage (whole-model ops after the last block) goes with
    the last stage."""
    if stages is None:
        return layer % groups
    for index, stage in enumerate(stages):
        if layer < stage.stop:
            return index
    return len(stages) - 1


#: A set with fewer keys than this (and than its width) keeps them on its first core:
#: spread, they would leave most of its cores without a key and only add reductions.
_ONE_CORE_BELOW_KEYS = 8


def attention_sets(scores: MatmulShape, group: LayerGroup,
                   schedule: ScheduleConfig) -> AttentionSets:
    """Spread ``scores.groups`` attention sets (and their keys) over the group's cores."""
    cores, sets_total, keys = group.cores, scores.groups, scores.out_features
    if len(cores) >= sets_total:
        slot = len(cores) // sets_total
        width = min(slot, schedule.attention_cores_per_set or slot)
        per_set = width if keys >= min(width, _ONE_CORE_BELOW_KEYS) else 1
        sets = tuple(cores[j * slot:j * slot + per_set] for j in range(sets_total))
        groups = {c: 1 for s in sets for c in s}
        key_counts = {c: n for s in sets for c, n in zip(s, balanced(keys, len(s)), strict=True)}
        return AttentionSets(sets, groups, key_counts)
    counts = balanced(sets_total, len(cores))
    used = [c for c, n in zip(cores, counts, strict=True) if n]
    return AttentionSets(tuple((c,) for c in used),
                         {c: n for c, n in zip(cores, counts, strict=True) if n},
                         {c: keys for c in used})


def op_layout(op: Op, graph: OpGraph, linear_split: str = "columns") -> Layout:
    """``slice``, ``rows``, ``grid``, ``every``, ``attn`` or ``attn_root`` (see the
    module docstring); ``linear_split`` is the linear's tiling (``columns``,
    ``rows`` or ``2d``: `sim.schedule.grid`)."""
    if op.role == Role.LINEAR and linear_split in _SPLIT_LAYOUTS:
        return _SPLIT_LAYOUTS[linear_split]
    norm = op.attrs.get("norm")
    if op.role in (Role.ATTN_SCORES, Role.ATTN_PV, Role.SOFTMAX_MAX, Role.SOFTMAX_EXP):
        return Layout.ATTN
    if norm == "softmax":
        if op.role == Role.NORM_SCALE_OUT:
            return Layout.ATTN_ROOT
        if op.role == Role.NORM_SCALAR:
            consumers = {graph.op(e.dst).role for e in graph.successors(op.name)}
            return Layout.ATTN_ROOT if Role.NORM_SCALE_OUT in consumers else Layout.ATTN
        return Layout.ATTN
    if op.role == Role.NORM_SCALAR:
        return Layout.EVERY
    return Layout.SLICE


#: The layout of a linear that is not cut by columns, by its tiling.
_SPLIT_LAYOUTS = {"rows": Layout.ROWS, "2d": Layout.GRID}


def _slice_axis(op: Op) -> str:
    """The field a ``slice`` piece divides: output features or columns."""
    return "out_features" if op.kind is OpKind.MATMUL else "cols"


@dataclass(frozen=True)
class Pieces(Sequence[Piece]):
    """An op's pieces, ascending by core, kept compactly: piece ``i`` runs on
    ``cores[i]`` with shape ``shapes[which[i]]`` (an op's pieces come in a few
    sizes, so ``shapes`` is short and its shapes are distinct)."""

    cores: tuple[int, ...]
    shapes: tuple[MatmulShape | SimdShape, ...]
    which: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.cores)

    @overload
    def __getitem__(self, i: int) -> Piece: ...
    @overload
    def __getitem__(self, i: slice) -> list[Piece]: ...

    def __getitem__(self, i: int | slice) -> Piece | list[Piece]:
        if isinstance(i, slice):
            return list(self)[i]
        return Piece(self.cores[i], self.shapes[self.which[i]])

    def __iter__(self) -> Iterator[Piece]:
        shapes = self.shapes
        return map(Piece, self.cores, [shapes[w] for w in self.which])


def op_pieces(op: Op, layout: Layout, group: LayerGroup,
              attention: AttentionSets | None) -> Pieces:
    """The per-core pieces of ``op`` in ``layout`` on ``group``, ascending by core.

    Raises
    ------
    GraphError
        If ``op`` is a collective (it has no pieces) or attention work without sets.
    """
    shape = op.shape
    if isinstance(shape, CollectiveShape):
        raise GraphError(f"mapping: collective op {op.name!r} has no per-core pieces")
    if layout is Layout.EVERY:
        return Pieces(group.cores, (shape,), (0,) * len(group.cores))
    if layout in (Layout.SLICE, Layout.ROWS):
        field = _slice_axis(op) if layout is Layout.SLICE else "in_features"
        # balanced: the first `extra` cores get base + 1, the others base (none if 0)
        base, extra = divmod(getattr(shape, field), len(group.cores))
        cores = group.cores if base else group.cores[:extra]
        sizes = [n for n, count in ((base + 1, extra), (base, len(cores) - extra)) if count]
        return Pieces(cores, tuple(replace(shape, **{field: n}) for n in sizes),
                      (0,) * extra + (len(sizes) - 1,) * (len(cores) - extra))
    if attention is None:
        raise GraphError(f"mapping: {op.name!r} is attention work in a layer without attn.scores")
    total_sets = sum(attention.groups_per_core[s[0]] for s in attention.sets)
    if layout is Layout.ATTN_ROOT:
        if not isinstance(shape, SimdShape):
            raise GraphError(f"mapping: {op.name!r} at the set roots must be a SIMD op")
        rows = shape.rows // total_sets
        roots = tuple(s[0] for s in attention.sets)
        counts = [attention.groups_per_core[r] for r in roots]
        distinct = list(dict.fromkeys(counts))
        return Pieces(roots, tuple(replace(shape, rows=rows * n) for n in distinct),
                      tuple(distinct.index(n) for n in counts))
    works, which = attention.work_index
    return Pieces(tuple(attention.groups_per_core),
                  tuple(_attn_shape(op, *work, total_sets) for work in works), which)


def _attn_shape(op: Op, sets_here: int, keys: int, total_sets: int) -> MatmulShape | SimdShape:
    """The shape of an ``attn`` piece holding ``sets_here`` sets of ``keys`` keys each."""
    shape = op.shape
    if isinstance(shape, MatmulShape):
        field = "out_features" if op.role == Role.ATTN_SCORES else "in_features"
        return replace(shape, groups=sets_here, **{field: keys})
    if not isinstance(shape, SimdShape):
        raise GraphError(f"mapping: attention op {op.name!r} is neither a matmul nor a SIMD op")
    rows = shape.rows // total_sets * sets_here
    return replace(shape, rows=rows, cols=shape.cols if shape.cols == 1 else keys)


def piece_stored_bytes(shape: MatmulShape | SimdShape, op: Op, bits: dict[str, int]) -> int:
    """Bytes a piece of ``shape`` keeps in SRAM: linear weights (and bias), or its KV cache."""
    if not isinstance(shape, MatmulShape):
        return 0
    if op.role == Role.LINEAR:
        elems = shape.in_features * shape.out_features + (
            shape.out_features if op.attrs.get("bias") else 0)
        return math.ceil(elems * bits["weight"] / 8)
    if op.role == Role.ATTN_SCORES:  # K and V of its keys: counted once, on the scores op
        head = shape.in_features  # caches of every resident sequence (kv_resident_batch)
        resident, batch = op.attrs.get("kv_resident", (1, 1))
        return math.ceil(2 * shape.groups * shape.out_features * head * bits["activation"]
                         * resident / (8 * batch))
    return 0


def streamed_fraction(op: Op) -> tuple[int, int]:
    """Of the bytes ``op`` stores, the fraction a step reads, as (numerator,
    denominator): a KV cache held for more sequences than the step serves
    (``workload.kv_resident_batch``) is read only for the step's own."""
    if op.role == Role.ATTN_SCORES:
        resident, batch = op.attrs.get("kv_resident", (1, 1))
        return int(batch), int(resident)
    return 1, 1


def check_capacity(stored: dict[int, int], machine: MachineConfig, largest: str = "") -> None:
    """Raise `CapacityError` if any core must hold more than its SRAM.

    ``stored`` maps core -> bytes of weights and KV cache placed on it;
    ``largest`` (optional) says what takes most of it, for the message
    (``"linear L0.ffn_up (columns) 58,720,256 B"``).
    """
    limit = machine.memory.sram_bytes_per_core
    if not stored:
        return
    core = max(stored, key=lambda c: (stored[c], -c))
    if stored[core] > limit:
        need = stored[core]
        raise CapacityError(
            f"workload does not fit: core {core} must hold {need:,} B of weights and KV cache"
            + (f" (largest: {largest})" if largest else "") + ", "
            f"machine.memory.sram_bytes_per_core is {limit:,} B (short by {need - limit:,} B); "
            "spread layers over more cores (schedule.cores_per_layer) or use a larger machine"
        )


def stored_bytes(op: Op, pieces: Pieces, bits: dict[str, int]) -> dict[int, int]:
    """Bytes each core stores for ``op``'s pieces (one piece per core)."""
    sizes = [piece_stored_bytes(shape, op, bits) for shape in pieces.shapes]
    if not any(sizes):
        return {}
    return {core: sizes[w] for core, w in zip(pieces.cores, pieces.which, strict=True)
            if sizes[w]}
