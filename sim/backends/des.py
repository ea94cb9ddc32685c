"""The discrete-event backend: executes a TaskGraph on SimPy in integer cycles.

Execution rules (the contract the tests hold the backend to):

- A task becomes *ready* when the results of all its dependencies are visible
  (each dependency's start + ``duration_cycles`` + ``result_latency_cycles``;
  a negative result latency publishes before the engine is released).
- Every engine is a FIFO server: when it is free at cycle t it starts, among its
  ready tasks, the one that became ready first; ties go to the lower task index
  (program order). Dispatch at cycle t happens after every completion at t, so a
  task made ready at t competes with the tasks already waiting.
- A started task holds its engine for ``duration_cycles``; there is no preemption.
- One SimPy event per task completion, one per non-zero result latency, and one
  dispatch sweep per cycle at which anything became ready or free: never a
  tick per cycle.
- If the event queue empties while tasks have not started (a dependency
  cycle), the run raises `DeadlockError` naming the stuck tasks.
"""

from __future__ import annotations

from heapq import heappop, heappush

import simpy
from simpy.events import Event, Timeout

from sim.backends.timeline import Timeline
from sim.errors import DeadlockError
from sim.ir import TaskGraph

__all__ = ["run_des"]

#: SimPy priority of the dispatch sweep: after URGENT (0) and NORMAL (1) events
#: of the same cycle, so every completion at a cycle is seen before dispatch.
_DISPATCH_PRIORITY = 2
_MAX_NAMED_STUCK = 8


def run_des(graph: TaskGraph) -> Timeline:
    """Simulate ``graph`` and return when every task started, ended and published.

    Raises
    ------
    DeadlockError
        If some tasks can never start.
    """
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
    sweep_pending = False
    events = 0

    def mark_dirty(engine: int) -> None:
        nonlocal sweep_pending, events
        dirty.append(engine)
        if not sweep_pending:
            sweep_pending = True
            events += 1
            sweep_event = Event(env)
            sweep_event._ok = True
            sweep_event._value = None
            sweep_event.callbacks.append(sweep)
            env.schedule(sweep_event, _DISPATCH_PRIORITY)

    def sweep(_event: Event) -> None:
        nonlocal sweep_pending, events
        sweep_pending = False
        now = env.now
        engines = dirty[:]
        dirty.clear()
        for engine in engines:
            if busy[engine] or not queues[engine]:
                continue
            _, index = heappop(queues[engine])
            busy[engine] = True
            start[index] = now
            events += 1
            Timeout(env, duration[index], index).callbacks.append(finish)
            if latency[index] < 0:  # visible before the engine is free: cut-through
                events += 1
                Timeout(env, duration[index] + latency[index], index).callbacks.append(published)

    def publish(index: int, now: int) -> None:
        ready[index] = now
        for dep in dependents[index]:
            waiting[dep] -= 1
            if waiting[dep] == 0:
                heappush(queues[engine_of[dep]], (now, dep))
                mark_dirty(engine_of[dep])

    def finish(event: Event) -> None:
        nonlocal events
        index = event._value
        now = env.now
        end[index] = now
        engine = engine_of[index]
        busy[engine] = False
        if queues[engine]:
            mark_dirty(engine)
        if latency[index] > 0:
            events += 1
            Timeout(env, latency[index], index).callbacks.append(published)
        elif latency[index] == 0:
            publish(index, now)

    def published(event: Event) -> None:
        publish(event._value, env.now)

    for index in range(n_tasks):
        if waiting[index] == 0:
            heappush(queues[engine_of[index]], (0, index))
            mark_dirty(engine_of[index])
    env.run()

    if ready.count(-1):
        stuck = tuple(t.name for t, r in zip(tasks, ready, strict=True) if r < 0)
        shown = ", ".join(stuck[:_MAX_NAMED_STUCK])
        more = f" and {len(stuck) - _MAX_NAMED_STUCK} more" if len(stuck) > _MAX_NAMED_STUCK else ""
        raise DeadlockError(
            f"deadlock at cycle {env.now}: {len(stuck)} of {n_tasks} tasks can never start "
            f"({shown}{more}); check the task graph for a dependency cycle",
            stuck,
        )
    return Timeline(tuple(start), tuple(end), tuple(ready), events=events)
