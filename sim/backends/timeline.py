"""What a backend returns: when every task ran (`Timeline`), and the attribution of
its critical path (`Breakdown`, computed by `sim.backends.critical_path`)."""

from __future__ import annotations

import csv
import io
from array import array
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sim.ir import TaskGraph

__all__ = ["Breakdown", "Timeline", "timeline_csv"]


class Timeline:
    """Per task (indexed like `TaskGraph.tasks`): start, engine release and
    result-visible cycles; plus the number of simulation events.

    Kept as int64 numpy columns (`start_array`, `end_array`, `ready_array`:
    8 bytes a task, read-only); `start_cycles`, `end_cycles` and `ready_cycles`
    are the same as tuples of ints, built on first use (a Python int a task:
    readers of large runs use the arrays). Immutable; equal when every column
    and the event count are.

    Examples
    --------
    >>> tl = Timeline((0, 3), (3, 5), (3, 6), events=2)
    >>> tl.ready_cycles, tl.latency_cycles, tl == Timeline([0, 3], [3, 5], [3, 6], 2)
    ((3, 6), 6, True)
    """

    __slots__ = ("_arrays", "_tuples", "events")

    def __init__(self, start_cycles: Sequence[int] | np.ndarray | array[int],
                 end_cycles: Sequence[int] | np.ndarray | array[int],
                 ready_cycles: Sequence[int] | np.ndarray | array[int], events: int) -> None:
        columns = []
        for values in (start_cycles, end_cycles, ready_cycles):
            column = (np.frombuffer(values, dtype=np.int64) if isinstance(values, array)
                      and values.typecode == "q" and len(values)
                      else np.asarray(values, dtype=np.int64).copy())
            column.flags.writeable = False
            columns.append(column)
        self._arrays: tuple[np.ndarray, np.ndarray, np.ndarray] = (columns[0], columns[1],
                                                                   columns[2])
        self._tuples: list[tuple[int, ...] | None] = [None, None, None]
        self.events = events

    def _tuple(self, k: int) -> tuple[int, ...]:
        got = self._tuples[k]
        if got is None:
            got = self._tuples[k] = tuple(self._arrays[k].tolist())
        return got

    @property
    def start_array(self) -> np.ndarray:
        """Every task's start cycle (int64, read-only)."""
        return self._arrays[0]

    @property
    def end_array(self) -> np.ndarray:
        """Every task's engine-release cycle (int64, read-only)."""
        return self._arrays[1]

    @property
    def ready_array(self) -> np.ndarray:
        """Every task's result-visible cycle (int64, read-only)."""
        return self._arrays[2]

    @property
    def start_cycles(self) -> tuple[int, ...]:
        """`start_array` as a tuple of ints."""
        return self._tuple(0)

    @property
    def end_cycles(self) -> tuple[int, ...]:
        """`end_array` as a tuple of ints."""
        return self._tuple(1)

    @property
    def ready_cycles(self) -> tuple[int, ...]:
        """`ready_array` as a tuple of ints."""
        return self._tuple(2)

    @property
    def latency_cycles(self) -> int:
        """Cycle at which the last result is visible (0 for an empty graph)."""
        ready = self._arrays[2]
        return int(ready.max()) if ready.size else 0

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Timeline):
            return NotImplemented
        return self.events == other.events and all(
            np.array_equal(a, b) for a, b in zip(self._arrays, other._arrays, strict=True))

    def __hash__(self) -> int:
        return hash((self.events, len(self._arrays[0]), self.latency_cycles))

    def __repr__(self) -> str:
        return (f"Timeline({len(self._arrays[0])} tasks, latency {self.latency_cycles} cycles, "
                f"{self.events} events)")


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
