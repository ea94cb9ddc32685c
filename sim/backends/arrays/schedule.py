"""FIFO engines in arrays: one op's tasks run on their cores' engines at once.

The rules are those of `sim.backends.fifo` (an engine, when free, starts its
ready task that became ready first; a task holds it for its occupancy), for
the case the array evaluator handles: each engine takes an op's tasks after
every earlier op's, each core's tiles in the order they become ready. With
E_k the cycles of the tiles run before tile k and F the cycle the engine is
free, tile k starts at E_k + max(F, max over j <= k of (ready_j - E_j)): a
prefix maximum per core.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.backends.arrays.batches import NONE, ROUNDS, OpBatch, cycle_of, moment

__all__ = ["EngineState", "schedule_batch"]


@dataclass
class EngineState:
    """Per core, for one kind of engine: the moment it is free, the moment its last
    task became ready (the FIFO check), and that task (batch index, element)."""

    free: np.ndarray
    ready: np.ndarray
    batch: np.ndarray
    element: np.ndarray

    @classmethod
    def idle(cls, cores: int) -> EngineState:
        """Engines of ``cores`` cores that have run nothing."""
        return cls(np.full(cores, NONE, dtype=np.int64), np.full(cores, NONE, dtype=np.int64),
                   np.full(cores, -1, dtype=np.int64), np.full(cores, -1, dtype=np.int64))


def schedule_batch(batch: OpBatch, engine: EngineState, mine: int, ready: np.ndarray,
                   occupancy: np.ndarray, latency: np.ndarray) -> bool:
    """Run ``batch``'s tasks (``ready``: (pieces, tiles) moments) on their cores'
    engines, each core's tiles in the order they become ready; fill the batch's
    times and engine predecessors (``mine``: the batch's index) and advance
    ``engine``. Return False, changing nothing, if that order is not the FIFO
    order (a task became ready before the engine's previous one).
    """
    cores, tiles = batch.cores, batch.tiles
    free = engine.free[cores]
    if tiles == 1:
        ready, occupancy, latency = ready[:, 0], occupancy[:, 0], latency[:, 0]
        if (ready < engine.ready[cores]).any():
            return False
        begin = np.maximum(ready, free)
        start = cycle_of(begin)
        release = moment(start + occupancy, 0)
        zero = occupancy == 0
        if zero.any():  # a zero-time task releases in the round after it starts
            release[zero] = begin[zero] + 1
        element: np.ndarray = np.arange(len(cores))
        previous, previous_element = engine.batch[cores], engine.element[cores]
        last = element
    else:  # each core's tiles in the order they become ready
        element = np.arange(ready.size).reshape(ready.shape)
        if (ready[:, 1:] < ready[:, :-1]).any():
            order = np.argsort(ready, axis=1, kind="stable")
            element = element[:, :1] + order
            ready, occupancy, latency = (a.reshape(-1)[element]
                                         for a in (ready, occupancy, latency))
        if (ready[:, 0] < engine.ready[cores]).any():
            return False
        ran_before = np.cumsum(occupancy, axis=1) - occupancy
        slack = cycle_of(ready) - ran_before
        slack[:, 0] = np.maximum(slack[:, 0], cycle_of(free))
        start = ran_before + np.maximum.accumulate(slack, axis=1)
        release = moment(start + occupancy, 0)
        zero = occupancy == 0
        if zero.any():
            freed = free
            for k in range(tiles):
                release[:, k] = np.where(zero[:, k], np.maximum(ready[:, k], freed) + 1,
                                         release[:, k])
                freed = release[:, k]
        previous = np.full(element.shape, mine, dtype=np.int64)
        previous[:, 0] = engine.batch[cores]
        previous_element = np.concatenate(
            (engine.element[cores][:, None], element[:, :-1]), axis=1)
        last = element[:, -1]
    visible = release + latency * ROUNDS  # round 0 after a task of non-zero time
    if zero.any():
        late = zero & (latency > 0)
        visible[late] = moment(cycle_of(release[late]) + latency[late], 0)
    engine.free[cores] = release if tiles == 1 else release[:, -1]
    engine.ready[cores] = ready if tiles == 1 else ready[:, -1]
    engine.batch[cores], engine.element[cores] = mine, last
    times = (("start", start), ("end", release), ("visible", visible),
             ("previous", previous), ("previous_element", previous_element))
    flat = element.reshape(-1)  # from ready order back to element order
    for name, values in times:
        if tiles == 1:
            setattr(batch, name, values)
            continue
        out = np.empty(flat.size, dtype=np.int64)
        out[flat] = values.reshape(-1)
        setattr(batch, name, out)
    return True
