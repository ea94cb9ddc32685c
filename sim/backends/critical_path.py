"""The critical path of a run: one definition, for tasks and for arrays.

The path is walked back from the first task (lowest index) whose result is
visible last. At each step the task's predecessor on the path is a
dependency whose result became visible exactly when the task started (lowest
index first), or else the task that ran before it on the same engine and
freed it exactly then. The path's cycles are attributed to the categories of
its tasks (a dependency's result latency counts to that dependency), so

    breakdown.matmul + breakdown.simd + breakdown.exposed_communication
        == latency_cycles

``communication_cycles`` is the total time any communication task was in
flight (union of [start, visible) intervals), hidden or not.

A schedule is read through a `ScheduleView` (a task graph with its timeline:
`TaskView`; an array-evaluated plan: `sim.backends.arrays.path`), so both
readers of a plan report the same path by the same walk.
"""

from __future__ import annotations

from collections.abc import Hashable
from itertools import pairwise
from typing import Protocol, TypeVar

import numpy as np

from sim.backends.timeline import Breakdown, Timeline
from sim.gcpause import paused_gc
from sim.ir import Category, TaskGraph
from sim.ir.task_table import CATEGORIES
from sim.ir.taskgraph import JOIN_BASE, is_join

__all__ = ["ScheduleView", "TaskView", "attribute_critical_path", "critical_breakdown",
           "union_cycles"]

N = TypeVar("N", bound=Hashable)


class ScheduleView(Protocol[N]):
    """A finished schedule as the walk sees it; ``N`` names one task."""

    def last(self) -> N | None:
        """The first task (lowest index) whose result is visible last (None: no tasks)."""

    def index(self, task: N) -> int:
        """The task's index in program order."""

    def start(self, task: N) -> int:
        """The cycle it started."""

    def end(self, task: N) -> int:
        """The cycle it released its engine."""

    def visible(self, task: N) -> int:
        """The cycle its result became visible."""

    def binding_dep(self, task: N, cycle: int) -> N | None:
        """Its lowest-index dependency whose result became visible at ``cycle``."""

    def engine_previous(self, task: N) -> N | None:
        """The task that ran just before it on its engine (None: none)."""

    def category(self, task: N) -> Category:
        """What its cycles count as."""

    def name(self, task: N) -> str:
        """A name for messages."""

    def communication_spans(self) -> tuple[np.ndarray, np.ndarray]:
        """Start and visible cycles of every communication task."""


def union_cycles(lo: np.ndarray, hi: np.ndarray) -> int:
    """Total length of the union of the half-open intervals [lo, hi).

    >>> union_cycles(np.array([0, 2, 10]), np.array([5, 7, 11]))
    8
    """
    if not lo.size:
        return 0
    order = np.lexsort((hi, lo))
    lo, hi = lo[order], hi[order]
    reach = np.concatenate(([lo[0]], np.maximum.accumulate(hi)[:-1]))
    return int(np.maximum(hi - np.maximum(lo, reach), 0).sum())


def critical_breakdown(view: ScheduleView[N]) -> tuple[Breakdown, list[N]]:
    """The run's `Breakdown` and its critical path (tasks in path order).

    Raises
    ------
    RuntimeError
        If the timeline has a gap no dependency or engine explains (a backend bug).
    """
    task = view.last()
    if task is None:
        return Breakdown(0, 0, 0, 0, ()), []
    begin = view.start(task)
    path, cycles = [task], [view.visible(task) - begin]
    while begin > 0:
        dep = view.binding_dep(task, begin)
        if dep is not None:
            task = dep
            done = view.visible(task)
        else:
            previous = view.engine_previous(task)
            if previous is None or view.end(previous) != begin:
                raise RuntimeError(f"timeline gap before task {view.name(task)} at {begin}")
            task = previous
            done = view.end(task)
        begin = view.start(task)
        cycles.append(done - begin)
        path.append(task)
    path.reverse()
    cycles.reverse()
    totals = dict.fromkeys(Category, 0)
    for step, spent in zip(path, cycles, strict=True):
        totals[view.category(step)] += spent
    return Breakdown(
        matmul_cycles=totals[Category.MATMUL],
        simd_cycles=totals[Category.SIMD],
        exposed_communication_cycles=totals[Category.COMMUNICATION],
        communication_cycles=union_cycles(*view.communication_spans()),
        critical_path=tuple(view.index(t) for t in path),
        path_cycles=tuple(cycles),
    ), path


class TaskView:
    """A TaskGraph and its Timeline as a `ScheduleView` (a task is its index).

    Tasks on one engine are ordered by (start, end, index); an engine's order is
    sorted on the first question about it (a critical path meets few engines).
    """

    def __init__(self, graph: TaskGraph, timeline: Timeline) -> None:
        self.graph, self.timeline = graph, timeline
        self._by_engine: tuple[np.ndarray, np.ndarray] | None = None
        self._previous: dict[int, int] = {}
        self._ordered: set[int] = set()
        self._join_ready: list[int] | None = None

    def last(self) -> int | None:
        ready = self.timeline.ready_array
        return int(np.argmax(ready)) if ready.size else None  # the first of the latest

    def index(self, task: int) -> int:
        return task

    def start(self, task: int) -> int:
        return int(self.timeline.start_array[task])

    def end(self, task: int) -> int:
        return int(self.timeline.end_array[task])

    def visible(self, task: int) -> int:
        return int(self.timeline.ready_array[task])

    def binding_dep(self, task: int, cycle: int) -> int | None:
        """Joins count as their members (`sim.ir.taskgraph`): the path never
        passes through one, and takes the member it would take without it."""
        ready = self.timeline.ready_array
        deps = self.graph.columns.deps(task)
        if not self.graph.joins:
            return min((d for d in deps if ready[d] == cycle), default=None)
        if self._join_ready is None:
            self._join_ready = self.graph.join_ready_cycles(ready)
        joins, join_ready = self.graph.joins, self._join_ready
        best: int | None = None
        stack = list(deps)
        while stack:  # a join visible at `cycle` holds a member visible then
            dep = stack.pop()
            if not is_join(dep):
                if ready[dep] == cycle and (best is None or dep < best):
                    best = dep
            elif join_ready[dep - JOIN_BASE] == cycle:
                stack.extend(joins[dep - JOIN_BASE])
        return best

    def engine_previous(self, task: int) -> int | None:
        engine_of = self.graph.columns.engine
        engine = int(engine_of[task])
        if self._by_engine is None:  # every engine's tasks, ascending: one stable sort
            order = np.argsort(engine_of, kind="stable")
            bounds = np.zeros(len(self.graph.engines) + 1, dtype=np.int64)
            np.cumsum(np.bincount(engine_of, minlength=len(self.graph.engines)),
                      out=bounds[1:])
            self._by_engine = (order, bounds)
        if engine not in self._ordered:
            order, bounds = self._by_engine
            mine = order[bounds[engine]:bounds[engine + 1]]  # ascending task indices
            start, end = self.timeline.start_array[mine], self.timeline.end_array[mine]
            indices = mine[np.lexsort((mine, end, start))].tolist()  # by (start, end, index)
            self._previous.update((after, before) for before, after in pairwise(indices))
            self._ordered.add(engine)
        previous = self._previous.get(task, -1)
        return None if previous < 0 else previous

    def category(self, task: int) -> Category:
        return CATEGORIES[int(self.graph.columns.category[task])]

    def name(self, task: int) -> str:
        return self.graph.name(task)

    def communication_spans(self) -> tuple[np.ndarray, np.ndarray]:
        index = np.flatnonzero(self.graph.columns.is_communication())
        if not index.size:
            return index, index
        return self.timeline.start_array[index], self.timeline.ready_array[index]


@paused_gc()  # it allocates per task; see `sim.gcpause`
def attribute_critical_path(graph: TaskGraph, timeline: Timeline) -> Breakdown:
    """Attribute the run's latency to matmul, SIMD and exposed communication
    (module docstring).

    Raises
    ------
    RuntimeError
        If the timeline has a gap no dependency or engine explains (a backend bug).
    """
    return critical_breakdown(TaskView(graph, timeline))[0]
