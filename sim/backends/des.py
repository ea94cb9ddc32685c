"""The discrete-event backend: executes a TaskGraph on SimPy in integer cycles.

Execution rules (the contract the tests hold the backend to):

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
- Events: every completion or publication is filed under its cycle, and there
  is one SimPy timeout per distinct cycle at which something is due, so at
  most one event per task and its result latency, never a tick per cycle.
  Dispatch needs no event of its own: after a cycle's due work, the waiting
  tasks of every freed or fed engine start.
- If the event queue empties while tasks have not started (a dependency
  cycle), the run raises `DeadlockError` naming the stuck tasks.

Python's cyclic garbage collector is paused during a run: the run creates
many short-lived acyclic objects and collection passes over the task graph
cost more than the simulation itself.
"""

from __future__ import annotations

import gc
from heapq import heappop, heappush

import simpy
from simpy.events import Event, Timeout

from sim.backends.timeline import Timeline
from sim.errors import DeadlockError
from sim.ir import TaskGraph

__all__ = ["run_des"]

_MAX_NAMED_STUCK = 8
_FINISH = 0  # the task releases its engine
_PUBLISH = 1  # the task's result becomes visible


def run_des(graph: TaskGraph) -> Timeline:
    """Simulate ``graph`` and return when every task started, ended and published.

    Raises
    ------
    DeadlockError
        If some tasks can never start.
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _run(graph)
    finally:
        if collecting:
            gc.enable()


def _run(graph: TaskGraph) -> Timeline:
    graph.validate("des")
    env = simpy.Environment()
    tasks = graph.tasks
    n_tasks = len(tasks)
    duration = [t.duration_cycles for t in tasks]
    latency = [t.result_latency_cycles for t in tasks]
    engine_of = [t.engine for t in tasks]
    dependents = graph.dependents()
    waiting = [len(t.deps) for t in tasks]
    queues: list[list[tuple[int, int]]] = [[] for _ in graph.engines]
    busy = [False] * len(graph.engines)
    start = [-1] * n_tasks
    end = [-1] * n_tasks
    ready = [-1] * n_tasks
    dirty: list[int] = []
    due: dict[int, list[tuple[int, int]]] = {}  # cycle -> [(action, task)] in filing order
    events = 0

    def file(cycle: int, action: int, index: int) -> None:
        nonlocal events
        bucket = due.get(cycle)
        if bucket is None:
            due[cycle] = [(action, index)]
            events += 1
            Timeout(env, cycle - env._now, cycle).callbacks.append(on_cycle)
        else:
            bucket.append((action, index))

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
            file(release, _FINISH, index)
            if latency[index] < 0:  # visible before the engine is free: cut-through
                file(release + latency[index], _PUBLISH, index)

    def on_cycle(event: Event) -> None:
        now = event._value
        for action, index in due.pop(now):
            if action == _FINISH:
                end[index] = now
                engine = engine_of[index]
                busy[engine] = False
                if queues[engine]:
                    dirty.append(engine)
                lag = latency[index]
                if lag > 0:
                    file(now + lag, _PUBLISH, index)
                    continue
                if lag < 0:
                    continue
            ready[index] = now
            for dep in dependents[index]:
                waiting[dep] -= 1
                if waiting[dep] == 0:
                    engine = engine_of[dep]
                    heappush(queues[engine], (now, dep))
                    dirty.append(engine)
        if dirty:
            dispatch(now)

    for index in range(n_tasks):
        if waiting[index] == 0:
            heappush(queues[engine_of[index]], (0, index))
            dirty.append(engine_of[index])
    dispatch(0)
    env.run()

    if ready.count(-1):
        stuck = tuple(t.name for t, s in zip(tasks, start, strict=True) if s < 0)
        shown = ", ".join(stuck[:_MAX_NAMED_STUCK])
        more = f" and {len(stuck) - _MAX_NAMED_STUCK} more" if len(stuck) > _MAX_NAMED_STUCK else ""
        raise DeadlockError(
            f"deadlock at cycle {env.now}: {len(stuck)} of {n_tasks} tasks can never start "
            f"({shown}{more}); check the task graph for a dependency cycle",
            stuck,
        )
    return Timeline(tuple(start), tuple(end), tuple(ready), events=events)
