"""TaskGraph: what runs on which engine, for how long, after what.

A task occupies one engine for ``duration_cycles`` (the engine is busy and can
start nothing else), and its result becomes visible to dependent tasks
``result_latency_cycles`` after that (pipeline drain, buffer write), without
holding the engine. The result latency may be negative, down to
``-duration_cycles``: a network hop holds its link for all F flits, but the
packet's head reaches the next router before the tail has left (cut-through).
An engine is a matmul engine, a SIMD unit, or one directed network link.
All times are integer reference-clock cycles, already computed by the hardware
cost models: backends only sequence them.

Examples
--------
>>> eng = (Engine("core0.simd", EngineKind.SIMD, core=0),)
>>> tg = TaskGraph(eng, (Task("a", "a", 0, 0, 3, 0, Category.SIMD, ()),
...                       Task("b", "b", 0, 0, 2, 0, Category.SIMD, (0,))))
>>> tg.validate("example")
>>> tg.dependents()
[[1], []]
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sim.errors import GraphError

__all__ = ["Category", "Engine", "EngineKind", "Task", "TaskGraph"]


class EngineKind(StrEnum):
    """Kinds of engine a task can occupy: a core's matmul engine or SIMD unit,
    a directed network link, a core's network interface (NIC), or a private
    server of one closed-form collective or message (it contends with nothing;
    see `sim.backends.task_emitter` with ``collectives="closed_form"``)."""

    MATMUL = "matmul"
    SIMD = "simd"
    LINK = "link"
    NIC = "nic"
    CLOSED_FORM = "closed_form"


class Category(StrEnum):
    """What a task's cycles count as in the latency breakdown."""

    MATMUL = "matmul"
    SIMD = "simd"
    COMMUNICATION = "communication"


@dataclass(frozen=True, slots=True)
class Engine:
    """One engine: a FIFO server of tasks. ``core`` indexes the machine's cores
    (None for a network link)."""

    name: str
    kind: EngineKind
    core: int | None


@dataclass(frozen=True, slots=True)
class Task:
    """One unit of work on one engine.

    Attributes
    ----------
    name : str
        Unique, e.g. ``linear[2]`` for tile 2 of op ``linear``.
    op : str
        The OpGraph op it comes from.
    tile : int
        Tile index within the op (0 for untiled ops).
    engine : int
        Index into `TaskGraph.engines`.
    duration_cycles : int
        Cycles the engine is occupied.
    result_latency_cycles : int
        Cycles from the engine's release until dependents may start
        (``>= -duration_cycles``).
    category : Category
    deps : tuple of int
        Indices of tasks whose results this task needs.
    nbytes : int
        Bytes the task moves over its engine (a network hop: the bytes of its
        packet on its link; 0 for compute and marker tasks). Last and defaulted,
        so positional constructions of the fields above need not name it.
    """

    name: str
    op: str
    tile: int
    engine: int
    duration_cycles: int
    result_latency_cycles: int
    category: Category
    deps: tuple[int, ...]
    nbytes: int = 0


@dataclass(frozen=True)
class TaskGraph:
    """Engines and tasks. Task order is program order: it breaks ties in the DES."""

    engines: tuple[Engine, ...]
    tasks: tuple[Task, ...]

    def validate(self, where: str) -> None:
        """Check indices, durations and names (not acyclicity: the DES reports
        tasks stuck behind a cycle as a deadlock).

        A graph whose ``engines``, ``tasks`` and every task's ``deps`` are tuples
        is remembered as valid once it passed (nothing in it can change), so
        validating it again (`lower`, then the DES) costs nothing.

        Raises
        ------
        GraphError
            Naming ``where`` and the first bad task.
        """
        if self.__dict__.get("_validated"):
            return
        tasks = self.tasks
        n_tasks, n_engines = len(tasks), len(self.engines)
        if len({t.name for t in tasks}) != n_tasks:
            seen: set[str] = set()
            for t in tasks:
                if t.name in seen:
                    raise GraphError(f"{where}: duplicate task name {t.name!r}")
                seen.add(t.name)
        immutable = type(tasks) is tuple and type(self.engines) is tuple
        for i, task in enumerate(tasks):  # one cheap pass; details only on failure
            deps = task.deps
            immutable = immutable and type(deps) is tuple
            if (
                not 0 <= task.engine < n_engines
                or task.duration_cycles < 0
                or task.result_latency_cycles < -task.duration_cycles
                or (len(deps) == 1 and not (0 <= deps[0] < n_tasks and deps[0] != i))
                or (len(deps) > 1 and (min(deps) < 0 or max(deps) >= n_tasks or i in deps
                                       or len(set(deps)) != len(deps)))
            ):
                self._explain(i, where)
        if immutable:
            object.__setattr__(self, "_validated", True)  # a private memo, not a field

    def _explain(self, i: int, where: str) -> None:
        """Raise the GraphError describing what is wrong with task ``i``."""
        task = self.tasks[i]
        if not 0 <= task.engine < len(self.engines):
            raise GraphError(f"{where}: task {task.name!r} names engine {task.engine}")
        if task.duration_cycles < 0 or task.result_latency_cycles < -task.duration_cycles:
            raise GraphError(f"{where}: task {task.name!r} has a negative time")
        if len(set(task.deps)) != len(task.deps):
            raise GraphError(f"{where}: task {task.name!r} lists a dependency twice")
        bad = next(d for d in task.deps if not 0 <= d < len(self.tasks) or d == i)
        raise GraphError(f"{where}: task {task.name!r} depends on bad index {bad}")

    def dependents(self) -> list[list[int]]:
        """For every task, the indices of the tasks that depend on it (ascending)."""
        out: list[list[int]] = [[] for _ in self.tasks]
        for i, task in enumerate(self.tasks):
            for dep in task.deps:
                out[dep].append(i)
        return out
