"""What a backend returns: when every task ran (`Timeline`), and the attribution of
its critical path (`Breakdown`, computed by `sim.backends.critical_path`)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from sim.ir import TaskGraph

__all__ = ["Breakdown", "Timeline", "timeline_csv"]


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
    """Critical-path attribution of one run, in cycles (`sim.backends.critical_path`)."""

    matmul_cycles: int
    simd_cycles: int
    exposed_communication_cycles: int
    communication_cycles: int
    critical_path: tuple[int, ...]
    path_cycles: tuple[int, ...] = ()

    def cycles_by_op(self, graph: TaskGraph) -> dict[str, int]:
        """Critical-path cycles attributed to each op (task ``op``), in path order."""
        out: dict[str, int] = {}
        codes, names = graph.columns.op_codes, graph.columns.op_names
        for index, cycles in zip(self.critical_path, self.path_cycles, strict=True):
            op = names[codes[index]]
            out[op] = out.get(op, 0) + cycles
        return out


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
