"""LoweringPlan: what the mapping decided, as time-free plain data.

`sim.schedule.build_plan` places a rewritten OpGraph on the machine's cores and
inserts the data movements its edges need; the result is a `LoweringPlan`, a
tuple of *steps* in one canonical order. Readers turn it into time:

- the task emitter (`sim.backends.task_emitter`): one task per (core, tile) of
  every op step, and hop-level or closed-form tasks for every movement step;
- the array evaluator (`sim.backends.arrays`): every step at once over its
  cores with numpy, without building tasks.

The step order is the emission order: a reader that numbers tasks step by
step (each step's tasks in its own order) gets the task indices of the other
reader, which is what breaks ties in program order.

Steps refer to earlier steps by index (`ViewRef`): an op step's output (per
core, its tiles' results) or a movement step's result (per core that ends with
the data). Selections of an op's tasks are *elements*: element ``i * tiles +
t`` is tile ``t`` of the op's piece ``i`` (the piece on ``cores[i]``).

Nothing here computes a cycle or imports another room.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

import numpy as np

from sim.ir.opgraph import MatmulShape, OpKind, SimdShape
from sim.ir.taskgraph import Category

__all__ = [
    "CollectiveStep",
    "Contribution",
    "Input",
    "Layout",
    "LinearTiling",
    "LoweringPlan",
    "MappingChoice",
    "MessageStep",
    "MoveKind",
    "MoveStep",
    "OpStep",
    "Purpose",
    "Request",
    "Step",
    "ViewRef",
]


class Layout(StrEnum):
    """How an op's pieces sit on its layer group (`sim.schedule.placement`)."""

    SLICE = "slice"          # columns split over the group
    ROWS = "rows"            # a row-split linear: input features split, partial sums out
    GRID = "grid"            # a 2d-split linear: block (i, j) of an R x C grid per core
    EVERY = "every"          # the same piece on every core of the group
    ATTN = "attn"            # attention work per (sequence, KV head) set
    ATTN_ROOT = "attn_root"  # on the first core of each attention set
    COLLECTIVE = "collective"  # a collective op of a ``collective`` workload


class Purpose(StrEnum):
    """What an op or a movement is for, in the breakdown of normalization cost."""

    NORMALIZATION = "normalization"            # statistics, scalars, normalizing, softmax
    NORMALIZATION_COMM = "normalization_comm"  # their collectives
    DATA_COMM = "data_comm"                    # all-gathers, partial sums, layer moves


class MoveKind(StrEnum):
    """The collective a movement step runs (values are `sim.network` collective names)."""

    ALL_GATHER = "all_gather"
    ALL_REDUCE = "all_reduce"
    REDUCE = "reduce"


class ViewRef(NamedTuple):
    """Where some data is: the output of step ``step``; for a movement step with
    several requests, request ``request``'s result (-1: every request's, merged)."""

    step: int
    request: int = -1


@dataclass(frozen=True, eq=False)
class Contribution:
    """What the cores of one collective contribute, drawn from ``source``.

    ``elements`` (``source`` an op step only): just these elements of the op
    (None: all of them). ``per_core``: each participant contributes what
    ``source`` holds on its own core; otherwise every participant waits for
    all of ``source`` (data at a few roots, gathered to everyone).
    """

    source: ViewRef
    elements: np.ndarray | None = None
    per_core: bool = True


@dataclass(frozen=True, eq=False)
class Request:
    """One collective over ``cores`` (ascending group order), ``nbytes`` per core,
    its tasks named (and counted as op) ``name``; ``root`` for a reduce."""

    cores: tuple[int, ...]
    nbytes: int
    name: str
    root: int | None
    contribution: Contribution


@dataclass(frozen=True, eq=False)
class MoveStep:
    """Collectives of one ``kind`` emitted one after another (a reader may take
    them as one batch): every request runs ``algorithm`` with ``reduce_op``
    and tree ``arity``; their tasks serve ``purpose``."""

    kind: MoveKind
    algorithm: str
    reduce_op: str
    arity: int
    purpose: Purpose
    requests: tuple[Request, ...]


@dataclass(frozen=True, eq=False)
class MessageStep:
    """Layer-to-layer messages: piece ``i`` of op step ``producer`` goes from
    ``src_cores[i]`` to ``dst_cores[i]`` (``nbytes[i]`` bytes) once all its
    tiles are done; message i is named ``names[i]``, and all count as op ``op``."""

    producer: int
    src_cores: tuple[int, ...]
    dst_cores: tuple[int, ...]
    nbytes: tuple[int, ...]
    names: tuple[str, ...]
    op: str


@dataclass(frozen=True, eq=False)
class CollectiveStep:
    """A collective op of a ``collective`` workload, over ``cores``, needing nothing."""

    name: str
    kind: str
    algorithm: str
    cores: tuple[int, ...]
    nbytes: int
    reduce_op: str
    root: int | None
    arity: int


@dataclass(frozen=True, eq=False)
class Input:
    """What one incoming edge brings to an op step: ``views`` (one per tile of the
    op, or one for all), or, if None, op step ``source``'s own tasks on each core
    (``tile_edge``: tile t reads the producer's tile t; a core without a piece of
    the producer waits for all of it)."""

    source: int
    views: tuple[ViewRef, ...] | None
    tile_edge: bool


@dataclass(frozen=True, eq=False)
class OpStep:
    """One op on its cores: piece ``i`` on ``cores[i]`` has shape index ``which[i]``;
    every piece has ``tiles`` tiles, tile ``t`` of a piece of shape ``s`` holds
    its engine ``occupancy_cycles[s][t]`` cycles and publishes
    ``result_latency_cycles[s][t]`` after (cost-model figures, not a schedule).
    ``lpddr_bytes[s]``: the bytes a piece of shape ``s`` streams from its card's
    LPDDR (its weights or KV cache sit there, `sim.schedule.tiers`); empty when
    the op keeps everything in SRAM. ``card_lpddr``: the op is a read out of
    LPDDR (the embedding lookup) whose pieces run on their cores' cards' LPDDR
    engines, not on a core unit (one tile each). ``tile_shapes[s][t]``: the shape
    (`sim.ir.opgraph.MatmulShape`, `SimdShape` or `TransferShape`) of tile ``t`` of
    a piece of shape ``s``, the work its cycles were costed from (`sim.energy`
    counts its events; empty in a plan built without them)."""

    name: str
    kind: OpKind
    category: Category
    layout: Layout
    group: int
    cores: tuple[int, ...]
    which: tuple[int, ...]
    tiles: int
    occupancy_cycles: tuple[tuple[int, ...], ...]
    result_latency_cycles: tuple[tuple[int, ...], ...]
    inputs: tuple[Input, ...]
    lpddr_bytes: tuple[int, ...] = ()
    card_lpddr: bool = False
    tile_shapes: tuple[tuple[MatmulShape | SimdShape, ...], ...] = ()


Step = OpStep | MoveStep | MessageStep | CollectiveStep


@dataclass(frozen=True)
class LinearTiling:
    """How one linear (K inputs, N outputs) is cut over the P cores of its group.

    ``split`` is ``columns``, ``rows`` or ``2d``; the cores form a ``grid_rows``
    x ``grid_cols`` grid (columns: 1 x P, rows: P x 1), group core ``p = i *
    grid_cols + j`` at (i, j). Row group i holds input features
    ``[in_bounds[i], in_bounds[i + 1])``; output slice p (the ``slice`` layout
    of the next op) is ``[out_bounds[p], out_bounds[p + 1])``, and grid column j
    holds the output slices ``j, C + j, 2C + j, ...`` (its weight columns, a
    fixed permutation of W). Core (i, j) stores W[rows of i, columns of j] and
    computes their partial product; summed over i it is the output of column j.
    """

    split: str
    grid_rows: int
    grid_cols: int
    in_bounds: tuple[int, ...]
    out_bounds: tuple[int, ...]

    def columns_of(self, j: int) -> list[int]:
        """The output columns of grid column ``j``, ascending."""
        c = self.grid_cols
        return [col for p in range(j, len(self.out_bounds) - 1, c)
                for col in range(self.out_bounds[p], self.out_bounds[p + 1])]

    def label(self) -> str:
        """``columns``, ``rows`` or ``2d RxC``."""
        return f"2d {self.grid_rows}x{self.grid_cols}" if self.split == "2d" else self.split


@dataclass(frozen=True)
class MappingChoice:
    """Decisions a search (`sim.mapper`) hands the mapping: the tiling of linears
    by op name (``columns``, ``rows``, ``2d``) and the token norms (by op prefix,
    ``L0.attn_norm``) whose statistics are computed locally; anything not named
    falls back to the config."""

    splits: dict[str, str] = field(default_factory=dict)
    local_stats: frozenset[str] = frozenset()


@dataclass(frozen=True, eq=False)
class LoweringPlan:
    """Every step in canonical order, what each op (task ``op``) serves, the
    bytes every core stores (weights and KV cache; capacity already checked),
    the tiling of every linear (by op name) and where every token norm's
    statistics were computed (by norm prefix: ``local`` or ``collective``).
    ``stored_bytes`` counts what each core holds in SRAM; ``tiers`` names, per op
    that stores bytes, its tier (``sram`` or ``lpddr``), and ``tier_bytes`` the
    bytes each tier holds, weights and KV cache apart (``sram_weight_bytes``,
    ``sram_kv_bytes``, ``lpddr_weight_bytes``, ``lpddr_kv_bytes``), ``layer_tier_bytes``
    the same per layer (of the storing ops' ``layer`` attribute)."""

    steps: tuple[Step, ...]
    purposes: dict[str, Purpose]
    total_cores: int
    stored_bytes: np.ndarray = field(repr=False)
    tilings: dict[str, LinearTiling] = field(default_factory=dict)
    norm_stats: dict[str, str] = field(default_factory=dict)
    tiers: dict[str, str] = field(default_factory=dict)
    tier_bytes: dict[str, int] = field(default_factory=dict)
    layer_tier_bytes: dict[int, dict[str, int]] = field(default_factory=dict)

    def op_steps(self) -> dict[str, int]:
        """The index of every op step, by op name."""
        return {s.name: i for i, s in enumerate(self.steps) if isinstance(s, OpStep)}
