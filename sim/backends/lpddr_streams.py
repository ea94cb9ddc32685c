"""LPDDR streams as tasks: the pieces whose weights or KV cache sit in LPDDR.

An op step with `OpStep.lpddr_bytes` (`sim.schedule.tiers` put its weights or
KV cache in its cards' LPDDR) gets, per piece on core c of card k:

- a *stream* task on card k's LPDDR engine (one engine per card, shared by its
  cores' streams: contention is played out), holding it ``stream_cycles``
  (`sim.hardware.memory_tier`) and visible when its first bytes arrive,
  ``latency_cycles`` after it starts (a negative result latency);
- a private *tail* of ``stream_cycles`` after that: visible when the last bytes
  arrive (op ``<op>.lpddr_tail``);
- the piece's tiles wait for the stream (the first bytes) besides their inputs,
  and a zero-time *join* of the tiles and the tail is what consumers read.

Alone on its card with its inputs ready, the piece so takes
``max(compute, stream) + latency`` cycles (`streamed_piece_cycles`).

A read out of LPDDR (`OpStep.card_lpddr`: the embedding lookup, one tile per
piece) is one task per piece on its card's LPDDR engine, with the plan's
cycles (`sim.hardware.model_ops.transfer_cost`: ``ceil(bytes /
bytes_per_cycle)`` held, visible ``latency_cycles`` after), waiting for the
op's inputs (the rows it reads are known then), not for the core's streams:
it fills SRAM, not the arrays. It queues with the card's streams.

Assumption (README, "Memory tier"): a core streams one piece at a time, so a
stream waits for the core's previous streamed piece to finish (its arrays are
busy until then) but not for its own op's inputs: it may run ahead while the
ops before it compute. Stream tasks count as matmul on the critical path (they
feed the arrays) and are listed as op ``<op>.lpddr``.
"""

from __future__ import annotations

from collections.abc import Callable

from sim.config import MachineConfig
from sim.hardware.memory_tier import card_of_core, stream_cycles
from sim.ir import Engine, EngineKind, TaskTable
from sim.ir.plan import OpStep

__all__ = ["Streams", "card_engine_name"]


def card_engine_name(card: int) -> str:
    """The name of card ``card``'s LPDDR engine."""
    return f"card{card}.lpddr"


class Streams:
    """The LPDDR streams of one emission (state of a single `emit_tasks` call):
    ``add_engine`` appends an engine after the interconnect's, returning its index."""

    def __init__(self, machine: MachineConfig, tasks: TaskTable,
                 add_engine: Callable[[Engine], int]) -> None:
        self.machine, self.tasks, self.add_engine = machine, tasks, add_engine
        self._engines: dict[int, int] = {}  # card -> its LPDDR engine
        self._streamed: dict[int, int] = {}  # core -> its last streamed piece's join
        self._tails: dict[tuple[str, int], int] = {}  # (op, core) -> the stream's tail

    def _engine(self, card: int) -> int:
        engine = self._engines.get(card)
        if engine is None:
            engine = self._engines[card] = self.add_engine(
                Engine(card_engine_name(card), EngineKind.MEMORY, None))
        return engine

    def start(self, step: OpStep, core: int, which: int) -> int:
        """Append the stream (and its tail) of ``step``'s piece on ``core`` of shape
        ``which``; return the stream task (the piece's tiles wait for it)."""
        lpddr = self.machine.memory.lpddr
        nbytes = step.lpddr_bytes[which]
        cycles = stream_cycles(nbytes, lpddr)
        before = self._streamed.get(core)
        op = f"{step.name}.lpddr"
        stream = self.tasks.add(f"{op}@c{core}", op, 0, self._engine(card_of_core(
            core, self.machine)), cycles, lpddr.latency_cycles - cycles, step.category,
            [] if before is None else [before], nbytes=nbytes)
        self._tails[step.name, core] = self._private(f"{op}.tail@c{core}", f"{op}_tail", cycles,
                                                     step, [stream])
        return stream

    def read(self, step: OpStep, core: int, which: int, deps: list[int]) -> int:
        """Append the read of ``step``'s piece on ``core`` of shape ``which`` (an
        `OpStep.card_lpddr` step) after ``deps``; return it."""
        engine = self._engine(card_of_core(core, self.machine))
        return self.tasks.add(f"{step.name}@c{core}", step.name, 0, engine,
                              step.occupancy_cycles[which][0],
                              step.result_latency_cycles[which][0], step.category, deps)

    def finish(self, step: OpStep, core: int, tiles: list[int]) -> int:
        """The zero-time join of the piece's ``tiles`` and its stream's tail."""
        joined = self._private(f"{step.name}.joined@c{core}", step.name, 0, step,
                               [self._tails.pop((step.name, core)), *tiles])
        self._streamed[core] = joined
        return joined

    def _private(self, name: str, op: str, cycles: int, step: OpStep, deps: list[int]) -> int:
        """A task of ``cycles`` on an engine of its own (it waits only for ``deps``)."""
        engine = self.add_engine(Engine(f"private.{name}", EngineKind.CLOSED_FORM, None))
        return self.tasks.add(name, op, 0, engine, cycles, 0, step.category, sorted(set(deps)))
