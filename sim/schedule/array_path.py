"""The critical path of an array-evaluated schedule, walked as `attribute_critical_path` walks it.

The same walk as `sim.backends.attribute_critical_path` on the task-by-task
graph: start from the first task (lowest index) whose result is visible last;
while the current task started after cycle 0, step to its dependency (lowest
index) whose result became visible at that start, else to the task that ran
just before it on its engine. Dependencies come from `Batch.deps` and indices
from the batches' bases, so the path and its attribution are the graph's.
"""

from __future__ import annotations

import numpy as np

from sim.backends.timeline import Breakdown
from sim.ir import Category
from sim.schedule.array_batches import Batch, cycle_of

__all__ = ["array_breakdown", "latency_cycles"]


def latency_cycles(batches: list[Batch]) -> int:
    """The cycle the last result is visible (0 if there are no tasks)."""
    return max((int(cycle_of(b.visible.max())) for b in batches if b.visible.size), default=0)


def _binding_dep(batch: Batch, element: int, begin: int) -> tuple[Batch, int] | None:
    """The lowest-index dependency of the element whose result is visible at cycle
    ``begin`` (None: none; the engine held it back)."""
    best: tuple[int, Batch, int] | None = None
    for dep, elements in batch.deps(element):
        hits = elements[cycle_of(dep.visible[elements]) == begin]
        if hits.size:
            first = int(hits.min())
            if best is None or dep.base + first < best[0]:
                best = (dep.base + first, dep, first)
    return None if best is None else (best[1], best[2])


def _union_cycles(batches: list[Batch]) -> int:
    """Cycles covered by at least one communication task (start to visible)."""
    spans = [(b.start, cycle_of(b.visible)) for b in batches
             if b.category is Category.COMMUNICATION and b.visible.size]
    if not spans:
        return 0
    lo = np.concatenate([s for s, _ in spans])
    hi = np.concatenate([v for _, v in spans])
    order = np.lexsort((hi, lo))
    lo, hi = lo[order], hi[order]
    reach = np.concatenate(([lo[0]], np.maximum.accumulate(hi)[:-1]))
    return int(np.maximum(hi - np.maximum(lo, reach), 0).sum())


def array_breakdown(batches: list[Batch]) -> tuple[Breakdown, dict[str, int]]:
    """The run's `Breakdown` (``critical_path`` holds task indices) and the
    critical-path cycles of each op (task ``op``), in path order.

    Raises
    ------
    RuntimeError
        If a gap on the path has no explanation (a bug in the arrays).
    """
    latency = latency_cycles(batches)
    filled = [b for b in batches if b.visible.size]
    if not filled:
        return Breakdown(0, 0, 0, 0, ()), {}
    batch = next(b for b in filled if cycle_of(b.visible.max()) == latency)
    element = int(np.argmax(cycle_of(batch.visible) == latency))
    path = [(batch, element, latency - int(batch.start[element]))]
    while (begin := int(batch.start[element])) > 0:
        found = _binding_dep(batch, element, begin)
        if found is not None:
            batch, element = found
            done = int(cycle_of(batch.visible[element]))
        else:
            previous = batch.engine_previous(element)
            if previous is None or cycle_of(int(previous[0].end[previous[1]])) != begin:
                raise RuntimeError(f"timeline gap before {batch.op_of(element)} at {begin}")
            batch, element = previous
            done = int(cycle_of(batch.end[element]))
        path.append((batch, element, done - int(batch.start[element])))
    path.reverse()
    totals = dict.fromkeys(Category, 0)
    by_op: dict[str, int] = {}
    for step, at, cycles in path:
        totals[step.category] += cycles
        op = step.op_of(at)
        by_op[op] = by_op.get(op, 0) + cycles
    return Breakdown(
        matmul_cycles=totals[Category.MATMUL],
        simd_cycles=totals[Category.SIMD],
        exposed_communication_cycles=totals[Category.COMMUNICATION],
        communication_cycles=_union_cycles(batches),
        critical_path=tuple(b.base + e for b, e, _ in path),
        path_cycles=tuple(c for _, _, c in path),
    ), by_op
