"""What a backend returns: when every task ran, and what its critical path was.

The critical path is walked back from the task whose result is visible last.
At each step the task's predecessor on the path is a dependency whose result
became visible exactly when the task started (lowest index first), or else the
task that ran before it on the same engine and freed it exactly then. The
path's cycles are attributed to the categories of its tasks (a dependency's
result latency counts to that dependency), so

    breakdown.matmul + breakdown.simd + breakdown.exposed_communication
        == latency_cycles

``communication_cycles`` is the total time any communication task was in flight
(union of intervals), hidden or not.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from itertools import pairwise

from sim.gcpause import paused_gc
from sim.ir import Category, TaskGraph

__all__ = ["Breakdown", "Timeline", "attribute_critical_path", "timeline_csv"]


@dataclass(frozen=True)
class Timeline:
    """Per task (indexed like `TaskGraph.tasks`): start, engine release and
    result-visible cycles; plus the number of simulation events."""

    start_cycles: tuple[int, ...]
    end_cycles: tuple[int, ...]
    ready_cycles: tuple[int, ...]
    events: int

    @property
    def latency_cycles(self) -> int:
        """Cycle at which the last result is visible (0 for an empty graph)."""
        return max(self.ready_cycles, default=0)


@dataclass(frozen=True)
class Breakdown:
    """Critical-path attribution of one run, in cycles (see the module docstring)."""

    matmul_cycles: int
    simd_cycles: int
    exposed_communication_cycles: int
    communication_cycles: int
    critical_path: tuple[int, ...]
    path_cycles: tuple[int, ...] = ()

    def cycles_by_op(self, graph: TaskGraph) -> dict[str, int]:
        """Critical-path cycles attributed to each op (task ``op``), in path order."""
        out: dict[str, int] = {}
        for index, cycles in zip(self.critical_path, self.path_cycles, strict=True):
            op = graph.tasks[index].op
            out[op] = out.get(op, 0) + cycles
        return out


class _EnginePredecessors:
    """For a task, the task that ran just before it on its engine (-1: none).

    Tasks on one engine are ordered by (start, end, index); an engine's order is
    sorted on the first question about it (a critical path meets few engines).
    """

    def __init__(self, graph: TaskGraph, timeline: Timeline) -> None:
        self._tasks = graph.tasks
        self._timeline = timeline
        self._by_engine: dict[int, list[int]] = {}
        for index, task in enumerate(graph.tasks):
            self._by_engine.setdefault(task.engine, []).append(index)
        self._previous: dict[int, int] = {}
        self._ordered: set[int] = set()

    def __getitem__(self, index: int) -> int:
        engine = self._tasks[index].engine
        if engine not in self._ordered:
            start, end = self._timeline.start_cycles, self._timeline.end_cycles
            indices = sorted(self._by_engine[engine], key=lambda i: (start[i], end[i], i))
            self._previous.update((after, before) for before, after in pairwise(indices))
            self._ordered.add(engine)
        return self._previous.get(index, -1)


def _union_cycles(intervals: list[tuple[int, int]]) -> int:
    """Total length of the union of half-open intervals."""
    total, reach = 0, None
    for lo, hi in sorted(intervals):
        if reach is None or lo > reach:
            total += hi - lo
            reach = hi
        elif hi > reach:
            total += hi - reach
            reach = hi
    return total


@paused_gc()  # it allocates per task; see `sim.gcpause`
def attribute_critical_path(graph: TaskGraph, timeline: Timeline) -> Breakdown:
    """Attribute the run's latency to matmul, SIMD and exposed communication.

    Raises
    ------
    RuntimeError
        If the timeline has a gap no dependency or engine explains (a backend bug).
    """
    tasks = graph.tasks
    totals = {category: 0 for category in Category}
    comm = [
        (timeline.start_cycles[i], timeline.ready_cycles[i])
        for i, t in enumerate(tasks)
        if t.category is Category.COMMUNICATION
    ]
    if not tasks:
        return Breakdown(0, 0, 0, 0, ())
    ready, start = timeline.ready_cycles, timeline.start_cycles
    last = ready.index(max(ready))  # the first task whose result is visible last
    path, cycles = [last], [ready[last] - start[last]]
    engine_prev = _EnginePredecessors(graph, timeline)
    current = last
    while start[current] > 0:
        begin = start[current]
        data = [d for d in tasks[current].deps if ready[d] == begin]
        if data:
            current = min(data)
            cycles.append(ready[current] - start[current])
        else:
            prev = engine_prev[current]
            if prev < 0 or timeline.end_cycles[prev] != begin:
                raise RuntimeError(f"timeline gap before task {tasks[current].name} at {begin}")
            current = prev
            cycles.append(timeline.end_cycles[current] - start[current])
        path.append(current)
    for index, spent in zip(path, cycles, strict=True):
        totals[tasks[index].category] += spent
    return Breakdown(
        matmul_cycles=totals[Category.MATMUL],
        simd_cycles=totals[Category.SIMD],
        exposed_communication_cycles=totals[Category.COMMUNICATION],
        communication_cycles=_union_cycles(comm),
        critical_path=tuple(reversed(path)),
        path_cycles=tuple(reversed(cycles)),
    )


def timeline_csv(graph: TaskGraph, timeline: Timeline, critical_path: tuple[int, ...]) -> str:
    """The timeline as CSV, one row per task in program order, cycles as integers."""
    on_path = set(critical_path)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["task", "op", "tile", "engine", "category", "start_cycle", "end_cycle",
                     "ready_cycle", "on_critical_path"])
    for i, task in enumerate(graph.tasks):
        writer.writerow([task.name, task.op, task.tile, graph.engines[task.engine].name,
                         task.category.value, timeline.start_cycles[i], timeline.end_cycles[i],
                         timeline.ready_cycles[i], int(i in on_path)])
    return out.getvalue()
