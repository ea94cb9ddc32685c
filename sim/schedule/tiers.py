"""Memory tiers: which ops keep their weights or KV cache in SRAM, which in LPDDR.

Every op that stores bytes (a linear's weights and bias, an attention scores
op's K and V: `sim.schedule.placement.piece_stored_bytes`) is placed *whole*:
all of its pieces in the SRAM of their cores, or all of them in the LPDDR of
the card each piece's core is on (cards hold contiguous cores, as
``machine.hierarchy`` numbers them). ``machine.memory.placement`` decides:

- ``sram_only``: everything in SRAM; a core holding more than
  ``machine.memory.sram_bytes_per_core`` is a `CapacityError` (today's check);
- ``sram_first`` (default): while some core holds more than its SRAM, the
  fullest such core (lowest index first) sends one of its SRAM ops to LPDDR:
  the *smallest* op whose bytes on that core cover the excess, or, if none
  does, the *largest* one (ties: the later layer, then the later op in program
  order). Best fit keeps the bytes streamed each step few: a 1 MB excess does
  not move a 58 MB FFN when a 2 MB projection covers it;
- ``lpddr_weights``: every linear's weights in LPDDR, then the KV cache as
  under ``sram_first``.

A card whose cores' LPDDR bytes exceed ``machine.memory.lpddr.bytes_per_card``
is a `CapacityError` naming that key, the card and the bytes. What SRAM and
LPDDR hold, weights and KV cache apart, is recorded for the result; their sum
is every byte the ops store (conserved). Nothing here computes time: the
readers stream what sits in LPDDR (`sim.hardware.memory_tier`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from sim.config import MachineConfig
from sim.errors import CapacityError
from sim.hardware.memory_tier import cores_per_card
from sim.ir import OpGraph, Role
from sim.ir.plan import OpStep, Step
from sim.schedule.placement import check_capacity, streamed_fraction

__all__ = ["TIER_KEYS", "StoredOp", "TierPlacement", "check_lpddr", "place_tiers", "stored_ops"]

#: The keys of `TierPlacement.tier_bytes` (and of the results' ``memory_bytes``).
TIER_KEYS = ("sram_weight_bytes", "sram_kv_bytes", "lpddr_weight_bytes", "lpddr_kv_bytes")


@dataclass(frozen=True, eq=False)
class StoredOp:
    """An op that stores bytes: its step, its pieces' cores and bytes (per piece),
    whether they are weights (else KV cache) and its layer."""

    name: str
    step: int
    cores: np.ndarray
    per_piece: np.ndarray
    weights: bool
    layer: int
    #: Of its bytes, the fraction a step streams (`streamed_fraction`).
    streamed: tuple[int, int] = (1, 1)


@dataclass(frozen=True, eq=False)
class TierPlacement:
    """Where every storing op sits: the ops in LPDDR, SRAM bytes per core, LPDDR
    bytes per card, the bytes of each tier (`TIER_KEYS`) and the same per layer
    (the ``layer`` attribute of the storing ops: whole-model ops count with the
    layer they are attached to)."""

    lpddr: frozenset[str]
    sram_per_core: np.ndarray
    lpddr_per_card: np.ndarray
    tier_bytes: dict[str, int]
    layer_tier_bytes: dict[int, dict[str, int]]

    def tiers(self, ops: list[StoredOp]) -> dict[str, str]:
        """Per storing op, ``sram`` or ``lpddr``."""
        return {op.name: "lpddr" if op.name in self.lpddr else "sram" for op in ops}

    def apply(self, steps: list[Step], ops: list[StoredOp]) -> tuple[Step, ...]:
        """``steps`` with every LPDDR op's `OpStep.lpddr_bytes` filled (bytes per
        piece shape: pieces of one shape store alike)."""
        out = list(steps)
        for op in ops:
            if op.name not in self.lpddr:
                continue
            step = out[op.step]
            if not isinstance(step, OpStep):  # pragma: no cover - storing ops are op steps
                raise TypeError(f"{op.name}: not an op step")
            per_shape = [0] * len(step.occupancy_cycles)
            num, den = op.streamed
            for which, nbytes in zip(step.which, op.per_piece.tolist(), strict=True):
                per_shape[which] = -(-int(nbytes) * num // den)
            out[op.step] = replace(step, lpddr_bytes=tuple(per_shape))
        return tuple(out)


def stored_ops(graph: OpGraph, stored_by_op: list[tuple[str, np.ndarray, np.ndarray]],
               index: dict[str, int]) -> list[StoredOp]:
    """The planner's ``(op, cores, bytes per piece)`` records as `StoredOp`s."""
    return [StoredOp(name, index[name], cores, per_piece,
                     graph.op(name).role == Role.LINEAR,
                     int(graph.op(name).attrs.get("layer", 0)),
                     streamed_fraction(graph.op(name)))
            for name, cores, per_piece in stored_by_op]


def _pick(candidates: list[tuple[int, int, int]], excess: int) -> int:
    """Of ``(bytes on the core, layer, position)`` candidates, the position of the
    one to move (module docstring: best fit, else the largest)."""
    covering = [c for c in candidates if c[0] >= excess]
    if covering:
        return min(covering, key=lambda c: (c[0], -c[1], -c[2]))[2]
    return max(candidates, key=lambda c: (c[0], c[1], c[2]))[2]


def _spill(ops: list[StoredOp], sram: np.ndarray, limit: int, moved: set[int]) -> None:
    """Move ops to LPDDR (``moved``, by position) until no core exceeds ``limit``."""
    while True:
        over = np.flatnonzero(sram > limit)
        if not over.size:
            return
        fullest = int(over[np.argmax(sram[over])])  # the first of the fullest
        candidates = []
        for position, op in enumerate(ops):
            if position in moved:
                continue
            here = int(op.per_piece[op.cores == fullest].sum())
            if here:
                candidates.append((here, op.layer, position))
        chosen = _pick(candidates, int(sram[fullest]) - limit)
        moved.add(chosen)
        np.subtract.at(sram, ops[chosen].cores, ops[chosen].per_piece)


def place_tiers(ops: list[StoredOp], machine: MachineConfig, largest: str = "") -> TierPlacement:
    """Place every storing op in SRAM or LPDDR (module docstring).

    ``largest`` names what stores most on the fullest core, for the
    ``sram_only`` error message.

    Raises
    ------
    CapacityError
        ``sram_only``: some core's SRAM overflows; otherwise some card's LPDDR
        (``machine.memory.lpddr.bytes_per_card``) overflows.
    """
    memory = machine.memory
    sram = np.zeros(machine.hierarchy.total_cores, dtype=np.int64)
    for op in ops:
        np.add.at(sram, op.cores, op.per_piece)
    moved: set[int] = set()
    if memory.placement == "sram_only":
        if sram.size and sram.max():
            fullest = int(np.argmax(sram))
            check_capacity({fullest: int(sram[fullest])}, machine, largest)
    else:
        if memory.placement == "lpddr_weights":
            for position, op in enumerate(ops):
                if op.weights:
                    moved.add(position)
                    np.subtract.at(sram, op.cores, op.per_piece)
        _spill(ops, sram, memory.sram_bytes_per_core, moved)
    per_card = cores_per_card(machine)
    lpddr = np.zeros(machine.hierarchy.cards, dtype=np.int64)
    tier_bytes = dict.fromkeys(TIER_KEYS, 0)
    by_layer: dict[int, dict[str, int]] = {}
    for position, op in enumerate(ops):
        tier = "lpddr" if position in moved else "sram"
        key, nbytes = f"{tier}_{'weight' if op.weights else 'kv'}_bytes", int(op.per_piece.sum())
        tier_bytes[key] += nbytes
        by_layer.setdefault(op.layer, dict.fromkeys(TIER_KEYS, 0))[key] += nbytes
        if tier == "lpddr":
            np.add.at(lpddr, op.cores // per_card, op.per_piece)
    check_lpddr(lpddr, machine)
    return TierPlacement(frozenset(ops[p].name for p in moved), sram, lpddr, tier_bytes,
                         by_layer)


def check_lpddr(lpddr: np.ndarray, machine: MachineConfig) -> None:
    """Raise `CapacityError` if some card's LPDDR holds more than it has (``lpddr``:
    the bytes each card holds, by card index)."""
    limit = machine.memory.lpddr.bytes_per_card
    if not lpddr.size or int(lpddr.max()) <= limit:
        return
    card = int(np.argmax(lpddr))
    need = int(lpddr[card])
    raise CapacityError(
        f"workload does not fit: card {card} must hold {need:,} B of weights and KV cache in "
        f"LPDDR (what its cores' SRAM cannot), machine.memory.lpddr.bytes_per_card is "
        f"{limit:,} B (short by {need - limit:,} B); use more cards or 4-bit weights "
        "(workload.weight_bits)"
    )
