"""The execution rules of `sim.backends.fifo` (heap clock) over `Columns`.

Same cycles, same passes within a cycle, same queues keyed by ready cycle and
task index as `sim.backends.fifo.run_fifo` on the real tasks. A task's chain
successor (`sim.network.replay.columns`) waits for it alone, so it is queued
when the task publishes, with no count kept; its other dependents (the other
children of a multicast hop, what waits for a delivery or a combine) count down.

A task of engine -1 is a *delay* (a zero-time task on a NIC, where no such task
publishes in the cycle it starts: `sim.network.replay.columns`): it takes no
engine, starts when ready and publishes its latency later, in the first pass of
that cycle, as it would on its NIC (which starts every such task in the cycle
it becomes ready). A delay is never a chain successor.
"""

from __future__ import annotations

from array import array
from heapq import heappop, heappush

from sim.errors import DeadlockError
from sim.network.replay.columns import Columns

__all__ = ["play"]


def play(cols: Columns) -> tuple[array, array]:
    """Start and ready cycle of every task: the rules of `sim.backends.fifo` (heap
    clock) on ``cols``. Raises `DeadlockError` if some task never starts."""
    engine, duration, latency = cols.engine, cols.duration, cols.latency
    successor, waiting, dependents = cols.successor, cols.waiting, cols.dependents
    n_tasks = len(engine)
    n_engines = max(engine, default=-1) + 1
    queues: list[list[tuple[int, int]]] = [[] for _ in range(n_engines)]
    busy = [False] * n_engines
    start = array("q", [-1]) * n_tasks
    ready = array("q", [-1]) * n_tasks
    dirty: list[int] = []
    due: dict[int, list[int]] = {}
    cycles: list[int] = []

    def file(cycle: int, entry: int) -> None:
        bucket = due.get(cycle)
        if bucket is None:
            due[cycle] = [entry]
            heappush(cycles, cycle)
        else:
            bucket.append(entry)

    def dispatch(now: int) -> None:
        engines = dirty[:]
        dirty.clear()
        for eng in engines:
            queue = queues[eng]
            if busy[eng] or not queue:
                continue
            index = heappop(queue)[1]
            busy[eng] = True
            start[index] = now
            release = now + duration[index]
            bucket = due.get(release)  # `file`, inlined for the common case
            if bucket is None:
                file(release, index)
            else:
                bucket.append(index)
            lag = latency[index]
            if lag < 0:  # visible before the engine is free: cut-through
                bucket = due.get(release + lag)
                if bucket is None:
                    file(release + lag, ~index)
                else:
                    bucket.append(~index)

    def on_cycle(now: int) -> None:
        for entry in due.pop(now):
            if entry >= 0:
                index = entry
                eng = engine[index]
                busy[eng] = False
                if queues[eng]:
                    dirty.append(eng)
                lag = latency[index]
                if lag:
                    if lag > 0:
                        bucket = due.get(now + lag)  # `file`, inlined
                        if bucket is None:
                            file(now + lag, ~index)
                        else:
                            bucket.append(~index)
                    continue
            else:
                index = ~entry
            ready[index] = now
            nxt = successor[index]
            if nxt >= 0:  # its only dependency: no count to keep
                eng = engine[nxt]
                heappush(queues[eng], (now, nxt))
                dirty.append(eng)
            for dep in dependents.get(index, ()):
                waiting[dep] -= 1
                if not waiting[dep]:
                    eng = engine[dep]
                    if eng < 0:  # a delay
                        start[dep] = now
                        file(now + latency[dep], ~dep)
                        continue
                    heappush(queues[eng], (now, dep))
                    dirty.append(eng)
        if dirty:
            dispatch(now)

    for index in range(n_tasks):
        if waiting[index] == 0:
            eng = engine[index]
            if eng < 0:
                start[index] = 0
                file(latency[index], ~index)
                continue
            heappush(queues[eng], (0, index))
            dirty.append(eng)
    dispatch(0)
    while cycles:
        on_cycle(heappop(cycles))
    if n_tasks and min(start) < 0:
        stuck = start.tolist().count(-1)
        raise DeadlockError(f"deadlock in a collective's replay: {stuck} of {n_tasks} tasks "
                            "can never start", ())
    return start, ready
