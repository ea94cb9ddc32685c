"""The discrete-event backend: executes a TaskGraph on SimPy in integer cycles.

The execution rules are those of `sim.backends.fifo` (FIFO engines, dispatch
after each cycle's completions, cut-through publication); this backend runs
them on SimPy's clock, one ``Timeout`` per distinct cycle at which some task
finishes or publishes. It is the truth the analytic backend is checked
against: given the hop-level graph of `sim.backends.task_emitter`, every message hop
holds its link, so messages that share a link queue.

Examples
--------
>>> from sim.ir import Category, Engine, EngineKind, Task, TaskGraph
>>> eng = (Engine("core0.simd", EngineKind.SIMD, core=0),)
>>> tg = TaskGraph(eng, (Task("a", "a", 0, 0, 3, 1, Category.SIMD, ()),
...                       Task("b", "b", 0, 0, 2, 0, Category.SIMD, ())))
>>> tl = run_des(tg)
>>> tl.start_cycles, tl.ready_cycles, tl.events
((0, 3), (4, 5), 3)
"""

from __future__ import annotations

from sim.backends.fifo import run_fifo
from sim.backends.timeline import Timeline
from sim.ir import TaskGraph

__all__ = ["run_des"]


def run_des(graph: TaskGraph) -> Timeline:
    """Simulate ``graph`` and return when every task started, ended and published.

    Raises
    ------
    GraphError
        If the graph is malformed.
    DeadlockError
        If some tasks can never start.
    """
    return run_fifo(graph, "simpy", "des")
