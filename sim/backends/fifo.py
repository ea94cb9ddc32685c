"""FIFO engines: the execution rules both timing backends share, on a pluggable clock.

Execution rules (the contract the tests hold the backends to):

- A task becomes *ready* when the results of all its dependencies are visible
  (each dependency's start + ``duration_cycles`` + ``result_latency_cycles``;
  a negative result latency publishes before the engine is released).
- Every engine is a FIFO server: when it is free at cycle t it starts, among its
  ready tasks, the one that became ready first; ties go to the lower task index
  (program order). Dispatch at cycle t happens after every completion due at t,
  so a task made ready at t competes with the tasks already waiting. (A task of
  zero duration started at t completes at t after that dispatch, and the tasks
  it readies are dispatched right after it, still at cycle t.)
- A started task holds its engine for ``duration_cycles``; no preemption.
- Events: every completion or publication is filed under its cycle, and the
  clock is asked once per distinct cycle at which something is due (a cycle
  whose work files more work for itself, zero-time tasks, is asked again), so
  at most one event per task and its result latency, never a tick per cycle.
  Dispatch needs no event of its own: after a cycle's due work, the waiting
  tasks of every freed or fed engine start.
- A join (`sim.ir.taskgraph`) is no task and no event: when its last member's
  result becomes visible, the join's is too, at once and in the same place of
  the cycle's handling, so the tasks waiting for it become ready exactly as
  they would waiting for every member directly (same cycle, same order).
- If the clock runs out while tasks have not started (a dependency cycle),
  the run raises `DeadlockError` naming the stuck tasks.

Clocks: ``simpy`` (one SimPy ``Timeout`` per event: `sim.backends.des`) and
``heap`` (a heap of cycles, no SimPy: `sim.backends.analytic`). They handle
the same cycles in the same order, so they give the same `Timeline`.

Python's cyclic garbage collector is paused during a run: the run creates
many short-lived acyclic objects and collection passes over the task graph
cost more than the simulation itself.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable
from heapq import heappop, heappush
from typing import Literal

import simpy
from simpy.events import Event, Timeout

from sim.backends.timeline import Timeline
from sim.errors import DeadlockError
from sim.gcpause import paused_gc
from sim.ir import TaskGraph

__all__ = ["Clock", "run_fifo"]

Clock = Literal["simpy", "heap"]
_MAX_NAMED_STUCK = 8


def run_fifo(graph: TaskGraph, clock: Clock, where: str) -> Timeline:
    """When every task of ``graph`` starts, releases its engine and publishes.

    ``where`` names the backend in error messages.

    Raises
    ------
    GraphError
        If the graph is malformed (`TaskGraph.validate`).
    DeadlockError
        If some tasks can never start.
    """
    with paused_gc():
        return _run(graph, clock, where)


def _run(graph: TaskGraph, clock: Clock, where: str) -> Timeline:
    graph.validate(where)
    env = simpy.Environment()
    cols = graph.columns
    n_tasks = len(cols)
    duration = cols.duration_cycles.tolist()
    latency = cols.result_latency_cycles.tolist()
    engine_of = cols.engine.tolist()
    # nodes (tasks, then joins from n_tasks on) -> the nodes waiting for them, in CSR
    # form over int64 arrays: node k's are nodes[bound[k]:bound[k + 1]] (no list a node)
    offsets, waiters = graph.dependent_csr()
    bound, nodes = array("q", offsets.tobytes()), array("q", waiters.tobytes())
    waiting = cols.dep_counts().tolist() + [len(members) for members in graph.joins]
    queues: list[list[tuple[int, int]]] = [[] for _ in graph.engines]
    busy = [False] * len(graph.engines)
    # int64 columns, not lists: no Python int kept per task (`Timeline` reads them as is)
    start = array("q", [-1]) * n_tasks
    end = array("q", [-1]) * n_tasks
    ready = array("q", [-1]) * len(waiting)  # a join's, too: from n_tasks on
    dirty: list[int] = []
    # cycle -> what is due, in filing order: a task index (it releases its
    # engine) or its complement ~index (its result becomes visible)
    due: dict[int, list[int]] = {}
    cycles: list[int] = []  # the heap clock: cycles with something due
    events = 0
    # `file` reaches `on_event` (which calls `file`) through this list, cleared
    # after the run, so the closures form no cycle that only a GC pass frees
    on_event_ref: list[Callable[[Event], None]] = []

    def file(cycle: int, entry: int) -> None:
        nonlocal events
        bucket = due.get(cycle)
        if bucket is None:
            due[cycle] = [entry]
            events += 1
            if clock == "heap":
                heappush(cycles, cycle)
            else:
                Timeout(env, cycle - env._now, cycle).callbacks.append(on_event_ref[0])
        else:
            bucket.append(entry)

    def dispatch(now: int) -> None:
        """Start the oldest ready task on every idle engine that has one."""
        engines = dirty[:]
        dirty.clear()
        for engine in engines:
            queue = queues[engine]
            if busy[engine] or not queue:
                continue
            index = heappop(queue)[1]
            busy[engine] = True
            start[index] = now
            release = now + duration[index]
            bucket = due.get(release)  # `file`, inlined for the common case
            if bucket is None:
                file(release, index)
            else:
                bucket.append(index)
            lag = latency[index]
            if lag < 0:  # visible before the engine is free: cut-through
                file(release + lag, ~index)

    def on_cycle(now: int) -> None:
        for entry in due.pop(now):
            if entry >= 0:  # the task releases its engine
                index = entry
                end[index] = now
                engine = engine_of[index]
                busy[engine] = False
                if queues[engine]:
                    dirty.append(engine)
                lag = latency[index]
                if lag:
                    if lag > 0:
                        bucket = due.get(now + lag)  # `file`, inlined for the common case
                        if bucket is None:
                            file(now + lag, ~index)
                        else:
                            bucket.append(~index)
                    continue
            else:  # the task's result becomes visible
                index = ~entry
            ready[index] = now
            # `join`'s body, inlined: this runs once per task, a call would cost more
            for dep in nodes[bound[index]:bound[index + 1]]:
                waiting[dep] -= 1
                if not waiting[dep]:
                    if dep >= n_tasks:
                        join(dep, now)
                        continue
                    engine = engine_of[dep]
                    heappush(queues[engine], (now, dep))
                    dirty.append(engine)
        if dirty:
            dispatch(now)

    def join(node: int, now: int) -> None:
        """Join ``node`` is complete at ``now``: ready what waits for it, depth first,
        right where its last member's result was handled (module docstring)."""
        ready[node] = now
        for dep in nodes[bound[node]:bound[node + 1]]:
            waiting[dep] -= 1
            if not waiting[dep]:
                if dep >= n_tasks:
                    join(dep, now)
                    continue
                engine = engine_of[dep]
                heappush(queues[engine], (now, dep))
                dirty.append(engine)

    for index in range(n_tasks):
        if waiting[index] == 0:
            heappush(queues[engine_of[index]], (0, index))
            dirty.append(engine_of[index])
    on_event_ref.append(lambda event: on_cycle(event._value))
    dispatch(0)
    last = 0
    if clock == "heap":
        while cycles:
            last = heappop(cycles)
            on_cycle(last)
    else:
        env.run()
        last = int(env.now)
    on_event_ref.clear()  # no reference cycle left: the bookkeeping is freed on return

    del ready[n_tasks:]
    if ready.count(-1):
        stuck = tuple(graph.name(i) for i, s in enumerate(start) if s < 0)
        shown = ", ".join(stuck[:_MAX_NAMED_STUCK])
        more = f" and {len(stuck) - _MAX_NAMED_STUCK} more" if len(stuck) > _MAX_NAMED_STUCK else ""
        raise DeadlockError(
            f"deadlock at cycle {last}: {len(stuck)} of {n_tasks} tasks can never start "
            f"({shown}{more}); check the task graph for a dependency cycle",
            stuck,
        )
    return Timeline(start, end, ready, events=events)
