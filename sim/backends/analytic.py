"""The analytic backend: a TaskGraph's schedule on a heap of cycles, no SimPy.

It runs a graph emitted with ``collectives="closed_form"`` (`sim.backends.task_emitter`):
compute tasks carry their cost-model durations, and every collective or
layer-to-layer message is a closed-form task on a private engine (one per
distinct arrival cycle of its cores). So links never contend, and the result
is the critical path of that graph under the DES's engine rules:

- a task is ready when all its dependencies' results are visible;
- every engine starts, when free, its ready task that became ready first
  (ties: program order); a started task holds the engine for its duration;
- results are visible ``result_latency_cycles`` after the engine is released.

The rules run from the same code as the DES (`sim.backends.fifo`) on a heap
of cycles instead of SimPy's clock, so on any one graph `run_analytic` and
`run_des` return the same timeline (tested); what makes the analytic backend
fast and contention-free is the graph it is given. Against the DES of the
hop-level graph it differs where links contend (the DES is slower) and where
a collective's contributions are ready at different cycles (the closed form
waits for the last one; the DES can start early).

Examples
--------
A task and its dependent on two engines; the result latency delays the dependent:

>>> from sim.ir import Category, Engine, EngineKind, Task, TaskGraph
>>> engines = (Engine("core0.matmul", EngineKind.MATMUL, 0), Engine("core0.simd",
...            EngineKind.SIMD, 0))
>>> graph = TaskGraph(engines, (Task("mm", "mm", 0, 0, 4, 2, Category.MATMUL, ()),
...                             Task("scale", "scale", 0, 1, 1, 0, Category.SIMD, (0,))))
>>> run_analytic(graph).ready_cycles
(6, 7)
"""

from __future__ import annotations

from sim.backends.fifo import run_fifo
from sim.backends.timeline import Timeline
from sim.ir import TaskGraph

__all__ = ["run_analytic"]


def run_analytic(graph: TaskGraph) -> Timeline:
    """When every task of ``graph`` starts, releases its engine and publishes.

    ``Timeline.events`` counts the cycles handled (as the DES counts events).

    Raises
    ------
    GraphError
        If the graph is malformed (`TaskGraph.validate`).
    DeadlockError
        If some tasks can never start (a dependency cycle).
    """
    return run_fifo(graph, "heap", "analytic")
