"""Placing the whole-model ops (`sim.workload.whole_model`) and reading their costs.

- ``host.in``, ``host.out`` and ``sample.pick`` run on the first core of their
  layer group (`ROOT_ROLES`); ``embed.lookup`` and ``sample.local`` are cut by
  columns like any SIMD op (``slice``: core i holds columns i, as the next op
  expects them).
- ``kv.append`` runs on the attention cores (``attn`` layout): in every set
  the new keys are the last ``new_keys_per_set`` of its keys, which
  `sim.schedule.placement.attention_sets` balances over the set's cores in
  order; each core stores the K and V of the new keys it holds (cores holding
  none have no piece).
- Costs: a `TransferShape` is costed by `sim.hardware.model_ops.transfer_cost`
  (one tile, untiled); everything else by its tiling (`sim.schedule.tiling`).
  An LPDDR read (``embed.lookup``) runs on its cores' cards' LPDDR engines
  (`reads_card_lpddr`, `OpStep.card_lpddr`), queueing with the weight streams.
  Host and LPDDR transfers count as communication in the breakdown, SRAM
  stores as SIMD work.
- The candidates of ``sample.local`` reach ``sample.pick`` by a ``reduce``
  (``max``) over the cores holding logits, rooted at the group's first core,
  ``candidates · CANDIDATE_BYTES`` per token (`candidates_reduce`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Protocol

from sim.config import MachineConfig
from sim.errors import GraphError
from sim.hardware import EngineCost
from sim.hardware.model_ops import CANDIDATE_BYTES, SHARED_MEDIA, transfer_cost
from sim.ir import Category, Op, OpKind, Role, SimdShape, TransferShape
from sim.ir.plan import Contribution, MoveKind, Purpose, Request, ViewRef
from sim.schedule.placement import AttentionSets, LayerGroup, Pieces
from sim.schedule.tiling import OpTiles

__all__ = ["ROOT_ROLES", "candidates_reduce", "model_op_pieces", "piece_costs",
           "reads_card_lpddr", "step_category"]

#: Roles that run on their layer group's first core only.
ROOT_ROLES = frozenset({Role.HOST_IN, Role.HOST_OUT, Role.SAMPLE_PICK})


def model_op_pieces(op: Op, group: LayerGroup, attention: AttentionSets | None) -> Pieces | None:
    """The pieces of a whole-model op placed unlike its layout says (module
    docstring); None for every other op.

    Raises
    ------
    GraphError
        A ``kv.append`` in a layer without attention, or not a `TransferShape`.
    """
    if op.role in ROOT_ROLES:
        if not isinstance(op.shape, SimdShape):  # a TransferShape is one
            raise GraphError(f"mapping: {op.name!r} ({op.role}) must be a SIMD op or a transfer")
        return Pieces((group.cores[0],), (op.shape,), (0,))
    if op.role != Role.KV_APPEND:
        return None
    shape = op.shape
    if attention is None or not isinstance(shape, TransferShape):
        raise GraphError(f"mapping: {op.name!r} needs a transfer shape in a layer with attention")
    new = int(op.attrs.get("new_keys_per_set", 1))
    per_core: dict[int, int] = {}  # core -> rows it stores (K and V of each new key and set)
    for members in attention.sets:
        keys = [attention.keys_per_core[c] for c in members]
        total, start = sum(keys), 0
        for core, held in zip(members, keys, strict=True):
            fresh = max(0, min(start + held, total) - max(start, total - new))
            start += held
            if fresh:
                per_core[core] = 2 * attention.groups_per_core[core] * fresh
    cores = tuple(sorted(per_core))
    distinct = list(dict.fromkeys(per_core[c] for c in cores))
    return Pieces(cores, tuple(replace(shape, rows=rows) for rows in distinct),
                  tuple(distinct.index(per_core[c]) for c in cores))


def piece_costs(op: Op, shapes: tuple[Any, ...], cut: OpTiles,
                machine: MachineConfig) -> list[list[EngineCost]]:
    """Per piece shape, the cost of each of its tiles."""
    whole = op.shape
    if isinstance(whole, TransferShape):
        return [[transfer_cost(s, whole, machine)] for s in shapes
                if isinstance(s, TransferShape)]
    return [cut.costs(s, machine) for s in shapes]


def piece_tile_shapes(op: Op, shapes: tuple[Any, ...], cut: OpTiles) -> tuple[tuple[Any, ...], ...]:
    """Per piece shape, the shape of each of its tiles (what `piece_costs` costs)."""
    if isinstance(op.shape, TransferShape):
        return tuple((s,) for s in shapes if isinstance(s, TransferShape))
    return tuple(tuple(cut.shapes(s)) for s in shapes)


def reads_card_lpddr(op: Op) -> bool:
    """Whether ``op`` is a read out of its cards' LPDDR (the embedding lookup): its
    pieces then hold their cards' LPDDR engines (`sim.backends.lpddr_streams`), not
    a core unit."""
    return isinstance(op.shape, TransferShape) and op.shape.medium == "lpddr"


def step_category(op: Op) -> Category:
    """What the op's cycles count as: matmul, communication (host and LPDDR
    transfers) or SIMD."""
    if op.kind is OpKind.MATMUL:
        return Category.MATMUL
    if isinstance(op.shape, TransferShape) and op.shape.medium in SHARED_MEDIA:
        return Category.COMMUNICATION
    return Category.SIMD


class _Moves(Protocol):
    def __call__(self, kind: MoveKind, requests: list[Request], *, purpose: Purpose,
                 reduce_op: str = "sum") -> int: ...


def candidates_reduce(local: Op, pick: Op, cores: tuple[int, ...], source: ViewRef,
                      moves: _Moves) -> list[ViewRef] | None:
    """The views ``pick`` reads: ``local``'s candidates (``sample.local``, on
    ``cores``, its output ``source``) reduced (``max``) to the first of the cores,
    ``candidates`` (value, index) pairs per token, planned by ``moves`` (the
    mapping's); None on one core.

    Raises
    ------
    GraphError
        If ``local`` is not a SIMD op.
    """
    if not isinstance(local.shape, SimdShape):
        raise GraphError(f"mapping: {local.name!r} must be a SIMD op")
    if len(cores) == 1:
        return None
    nbytes = local.shape.rows * int(local.attrs.get("candidates", 1)) * CANDIDATE_BYTES
    request = Request(cores, max(1, nbytes), f"{pick.name}<{local.name}.reduce", cores[0],
                      Contribution(source))
    return [ViewRef(moves(MoveKind.REDUCE, [request], purpose=Purpose.DATA_COMM,
                          reduce_op="max"))]
