"""An array-evaluated schedule as a `ScheduleView`: its critical path by the one walk.

`sim.backends.critical_path.critical_breakdown` walks this view exactly as it
walks a task graph: dependencies come from `Batch.deps` and indices from the
batches' bases, so the path and its attribution are those of the emitted graph.
"""

from __future__ import annotations

import numpy as np

from sim.backends.arrays.batches import Batch, cycle_of
from sim.backends.critical_path import critical_breakdown
from sim.backends.timeline import Breakdown
from sim.ir import Category

__all__ = ["ArrayView", "array_breakdown", "latency_cycles"]

#: One task of an array-evaluated schedule: a batch and an element of it.
Node = tuple[Batch, int]


def latency_cycles(batches: list[Batch]) -> int:
    """The cycle the last result is visible (0 if there are no tasks)."""
    return max((int(cycle_of(b.visible.max())) for b in batches if b.visible.size), default=0)


class ArrayView:
    """Batches in task order as a `sim.backends.critical_path.ScheduleView`."""

    def __init__(self, batches: list[Batch]) -> None:
        self.batches = batches

    def last(self) -> Node | None:
        latency = latency_cycles(self.batches)
        best: tuple[int, Batch, int] | None = None  # the lowest task index of the latest
        for batch in self.batches:
            if not batch.visible.size or cycle_of(batch.visible.max()) != latency:
                continue
            element = int(np.argmax(cycle_of(batch.visible) == latency))
            index = batch.index_of(element)
            if best is None or index < best[0]:
                best = (index, batch, element)
        return None if best is None else (best[1], best[2])

    def index(self, task: Node) -> int:
        return task[0].index_of(task[1])

    def start(self, task: Node) -> int:
        return int(task[0].start[task[1]])

    def end(self, task: Node) -> int:
        return int(cycle_of(task[0].end[task[1]]))

    def visible(self, task: Node) -> int:
        return int(cycle_of(task[0].visible[task[1]]))

    def binding_dep(self, task: Node, cycle: int) -> Node | None:
        best: tuple[int, Batch, int] | None = None
        for dep, elements in task[0].deps(task[1]):
            hits = elements[cycle_of(dep.visible[elements]) == cycle]
            if hits.size:
                first = int(hits.min())
                index = dep.index_of(first)
                if best is None or index < best[0]:
                    best = (index, dep, first)
        return None if best is None else (best[1], best[2])

    def engine_previous(self, task: Node) -> Node | None:
        return task[0].engine_previous(task[1])

    def category(self, task: Node) -> Category:
        return task[0].category

    def name(self, task: Node) -> str:
        return task[0].op_of(task[1])

    def communication_spans(self) -> tuple[np.ndarray, np.ndarray]:
        spans = [(b.start, cycle_of(b.visible)) for b in self.batches
                 if b.category is Category.COMMUNICATION and b.visible.size]
        if not spans:
            empty = np.empty(0, dtype=np.int64)
            return empty, empty
        return (np.concatenate([s for s, _ in spans]), np.concatenate([v for _, v in spans]))


def array_breakdown(batches: list[Batch]) -> tuple[Breakdown, dict[str, int]]:
    """The run's `Breakdown` (``critical_path`` holds task indices) and the
    critical-path cycles of each op (task ``op``), in path order.

    Raises
    ------
    RuntimeError
        If a gap on the path has no explanation (a bug in the arrays).
    """
    breakdown, path = critical_breakdown(ArrayView(batches))
    by_op: dict[str, int] = {}
    for (batch, element), cycles in zip(path, breakdown.path_cycles, strict=True):
        op = batch.op_of(element)
        by_op[op] = by_op.get(op, 0) + cycles
    return breakdown, by_op
