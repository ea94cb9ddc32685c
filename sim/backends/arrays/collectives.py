"""The closed-form collectives of one movement step, in arrays.

The task emitter (``_closed_form_collectives`` in `sim.backends.task_emitter`)
numbers a step's closed-form tasks in three parts; this module builds the same
tasks as batches, in the same order, with the same times:

- (A) one `ChainBatch`: per collective without combines, its zero-time start
  task if it has several arrival cycles, then one task per arrival cycle; per
  collective with combines, its start task;
- (B) the combine blocks (ready when the start task publishes), one
  `CombineBatch` per round (`combine_rounds`: no round has two on one core), on
  the cores' combine lanes of the step's purpose under the FIFO rules
  (`schedule_batch`; a block that became ready before the lane's previous
  block declines the plan);
- (C) one `ChainBatch` for the collectives with combines: per block a tail to
  the first arrival, the first arrival's wait from the start, their zero-time
  join (the first arrival) and one task per later arrival cycle.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sim.backends.arrays.batches import (
    ROUNDS,
    Arrivals,
    Batch,
    ChainBatch,
    CombineBatch,
    Part,
    Refs,
    cycle_of,
    moment,
)
from sim.backends.arrays.schedule import EngineState, schedule_batch
from sim.backends.collective_profile import ClosedFormShape, combine_rounds
from sim.ir import Category

__all__ = ["Emitted", "after", "collective_batches"]


def after(start: np.ndarray, cycles: np.ndarray) -> np.ndarray:
    """The moments at which work started at moments ``start`` and lasting ``cycles``
    is due: a later cycle's round 0, or, for zero cycles, the next round."""
    return np.where(cycles == 0, start + 1, moment(cycle_of(start) + cycles, 0))


@dataclass(frozen=True)
class Emitted:
    """Where a step's multi-core collectives' results arrive: collective j's cores
    ``cores[j]`` have them at elements ``elements[j]`` of ``batches[j]``."""

    batches: list[Batch]
    cores: list[np.ndarray]
    elements: list[np.ndarray]

    def view(self, request: int | None = None) -> Arrivals:
        """Where collective ``request``'s result arrives (None: every one's, one part
        per batch)."""
        if request is not None:
            batch, cores, elements = (self.batches[request], self.cores[request],
                                      self.elements[request])
            return Arrivals(cores, batch.visible[elements], [Part(cores, batch, elements)])
        parts: list[Part] = []
        for batch in dict.fromkeys(self.batches):  # in order of first use, once each
            mine = [j for j, b in enumerate(self.batches) if b is batch]
            cores = np.concatenate([self.cores[j] for j in mine])
            parts.append(Part(cores, batch, np.concatenate([self.elements[j] for j in mine])))
        cores = np.concatenate([p.cores for p in parts])
        moments = np.concatenate([p.batch.visible[p.elements] for p in parts if p.batch])
        return Arrivals(cores, moments, parts)


class _Chain:
    """A `ChainBatch` under construction: per element its owner, source, dependency
    range, the moment it is ready and its cycles."""

    def __init__(self) -> None:
        self.owner: list[int] = []
        self.source: list[int] = []
        self.lo: list[int] = []
        self.hi: list[int] = []
        self.ready: list[int] = []
        self.cycles: list[int] = []
        self.release: list[int] = []

    def add(self, owner: int, source: int, lo: int, hi: int, ready: int, cycles: int) -> int:
        """Append an element; return its index (its release is known at once)."""
        self.owner.append(owner)
        self.source.append(source)
        self.lo.append(lo)
        self.hi.append(hi)
        self.ready.append(ready)
        self.cycles.append(cycles)
        # `after`: the next round for no cycles, else round 0 of the cycle it is due
        self.release.append(ready + 1 if cycles == 0 else moment(ready // ROUNDS + cycles, 0))
        return len(self.owner) - 1

    def batch(self, base: int, ops: tuple[str, ...], refs: list[Batch],
              contributions: list[list[Refs]]) -> ChainBatch:
        ints = [np.asarray(v, dtype=np.int64) for v in
                (self.ready, self.release, self.owner, self.source, self.lo, self.hi)]
        ready, release, owner, source, lo, hi = ints
        return ChainBatch("", Category.COMMUNICATION, base, cycle_of(ready), release, release,
                          ops=ops, owner=owner, source=source, lo=lo, hi=hi, refs=refs,
                          contributions=contributions)


def collective_batches(names: tuple[str, ...], shapes: list[ClosedFormShape],
                       begin: np.ndarray, contributions: list[list[Refs]],
                       lanes: EngineState, add: Callable[[Batch], object],
                       batches: list[Batch]) -> Emitted | None:
    """The step's batches (module docstring), each handed to ``add`` (which numbers
    and files it); collective j starts at moment
    ``begin[j]`` (its last contribution) and waits for ``contributions[j]``. None if a
    combine block breaks the FIFO order (``lanes`` may then be partly advanced: the
    plan is emitted task by task instead)."""
    a = _Chain()
    first_elements: list[np.ndarray] = []
    combining: list[tuple[int, int, list[int]]] = []  # (j, start element, wait elements)
    for j, shape in enumerate(shapes):
        at = int(begin[j])
        if shape.combines:
            start = a.add(j, -1, 0, 0, at, 0)
            combining.append((j, start, [start] * shape.combine_cores.size))
            first_elements.append(np.zeros(0, dtype=np.int64))
            continue
        cycles = shape.cycles.tolist()
        if len(cycles) > 1:
            start = a.add(j, -1, 0, 0, at, 0)
            tasks = [a.add(j, -2, start, start + 1, at + 1, c) for c in cycles]
        else:
            tasks = [a.add(j, -1, 0, 0, at, cycles[0])]
        first_elements.append(np.asarray(tasks, dtype=np.int64)[shape.which])
    chain_a = a.batch(0, names, [], contributions)
    add(chain_a)
    out_batches: list[Batch] = [chain_a] * len(shapes)
    out_elements = first_elements
    if not combining:
        return Emitted(out_batches, [s.cores for s in shapes], out_elements)
    rounds = combine_rounds([shapes[j] for j, _, _ in combining])
    # every block, collective by collective and within one by combining core (the
    # order `np.flatnonzero` takes a round's), then stably by round
    block_owner = np.concatenate([np.full(r.size, j, dtype=np.int64)
                                  for (j, _, _), r in zip(combining, rounds, strict=True)])
    block_index = np.concatenate([np.arange(r.size, dtype=np.int64) for r in rounds])
    block_cores, block_cycles = (np.concatenate([getattr(shapes[j], field) for j, _, _ in
                                                 combining]).astype(np.int64, copy=False)
                                 for field in ("combine_cores", "combine_cycles"))
    block_waits = np.concatenate([np.asarray(wait, dtype=np.int64) for _, _, wait in combining])
    block_round = np.concatenate(rounds)
    by_round = np.argsort(block_round, kind="stable")
    bounds = np.searchsorted(block_round[by_round],
                             np.arange(int(block_round.max(initial=-1)) + 2))
    placed: dict[tuple[int, int], tuple[int, int]] = {}  # (j, i) -> (round, element)
    round_batches: list[Batch] = []
    for now in range(bounds.size - 1):
        mine = by_round[bounds[now]:bounds[now + 1]]
        for element, key in enumerate(zip(block_owner[mine].tolist(),
                                          block_index[mine].tolist(), strict=True)):
            placed[key] = (now, element)
        wait_at = block_waits[mine]
        ready = chain_a.end[wait_at]
        cores = block_cores[mine]
        block = CombineBatch("", Category.SIMD, 0, ready, ready, ready, cores=cores, tiles=1,
                             batches=batches, ops=names, owner=block_owner[mine],
                             before=chain_a, waits=wait_at)
        zeros = np.zeros((cores.size, 1), dtype=np.int64)
        if not schedule_batch(block, lanes, len(batches), ready[:, None],
                              block_cycles[mine][:, None], zeros):
            return None
        add(block)
        round_batches.append(block)
    c = _Chain()
    visible = [b.visible.tolist() for b in round_batches]
    for j, start, _ in combining:
        shape = shapes[j]
        tails = []
        for i, tail in enumerate(shape.tails.tolist()):
            now, element = placed[j, i]
            tails.append(c.add(j, 1 + now, element, element + 1, visible[now][element], tail))
        first = int(shape.cycles[0])
        first_wait = c.add(j, 0, start, start + 1, int(chain_a.end[start]), first)
        lo = tails[0] if tails else first_wait
        join = c.add(j, -2, lo, first_wait + 1, max(c.release[lo:first_wait + 1]), 0)
        tasks = [join] + [c.add(j, -2, join, join + 1, c.release[join], cy - first)
                          for cy in shape.cycles[1:].tolist()]
        out_elements[j] = np.asarray(tasks, dtype=np.int64)[shape.which]
    chain_c = c.batch(0, names, [chain_a, *round_batches], contributions)
    add(chain_c)
    for j, _, _ in combining:
        out_batches[j] = chain_c
    return Emitted(out_batches, [s.cores for s in shapes], out_elements)
