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

A *join* stands for a set of tasks that many tasks wait for together: a task
lists the join (`join_ref`) among its ``deps`` instead of every member, so a
fan-in of ``m`` producers into ``k`` consumers is ``m + k`` edges, not
``m * k``. A join is no task: it occupies no engine, takes no time, is no event
and no op; its result is visible when the last of its members' is, and waiting
for it is waiting for every member (its members may be tasks or earlier joins).
Readers that need the tasks a task waits for expand joins (`expanded_deps`,
`join_ready_cycles`).

Examples
--------
>>> eng = (Engine("core0.simd", EngineKind.SIMD, core=0),)
>>> tg = TaskGraph(eng, (Task("a", "a", 0, 0, 3, 0, Category.SIMD, ()),
...                       Task("b", "b", 0, 0, 2, 0, Category.SIMD, (0,))))
>>> tg.validate("example")
>>> tg.dependents()
[[1], []]
>>> tg = TaskGraph(eng, (Task("a", "a", 0, 0, 3, 0, Category.SIMD, ()),
...                       Task("b", "b", 0, 0, 2, 0, Category.SIMD, ()),
...                       Task("c", "c", 0, 0, 1, 0, Category.SIMD, (join_ref(0),))),
...                joins=((0, 1),))
>>> tg.validate("example"); tg.expanded_deps(2), tg.join_ready_cycles([3, 5, 6])
((0, 1), [5])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from sim.errors import GraphError

__all__ = ["JOIN_BASE", "Category", "Engine", "EngineKind", "Task", "TaskGraph", "is_join",
           "join_ref"]

#: Dependency ids from here up name joins: ``JOIN_BASE + j`` is ``TaskGraph.joins[j]``.
#: Far above any task index, so a reader that takes a join for a task fails loudly
#: (an IndexError) instead of reading another task's figures.
JOIN_BASE = 1 << 40


def join_ref(j: int) -> int:
    """The dependency id of join ``j`` (``TaskGraph.joins[j]``)."""
    return JOIN_BASE + j


def is_join(dep: int) -> bool:
    """Whether the dependency id ``dep`` names a join rather than a task."""
    return dep >= JOIN_BASE


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
        Indices of tasks whose results this task needs, or joins of them
        (`join_ref`).
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
    """Engines, tasks and joins (module docstring). Task order is program order: it
    breaks ties in the DES. ``joins[j]`` lists the dependency ids (tasks, or joins
    before ``j``) join ``j`` waits for."""

    engines: tuple[Engine, ...]
    tasks: tuple[Task, ...]
    joins: tuple[tuple[int, ...], ...] = ()

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
        joins = self.joins
        immutable = immutable and type(joins) is tuple
        for j, members in enumerate(joins):
            immutable = immutable and type(members) is tuple
            if not members or len(set(members)) != len(members) or any(
                    m < 0 or n_tasks <= m < JOIN_BASE or m >= JOIN_BASE + j for m in members):
                raise GraphError(f"{where}: join {j} has no members, a repeated one or a bad "
                                 f"one (tasks, or joins before it): {members[:8]}")
        top = JOIN_BASE + len(joins)
        for i, task in enumerate(tasks):  # one cheap pass; details only on failure
            deps = task.deps
            immutable = immutable and type(deps) is tuple
            if (
                not 0 <= task.engine < n_engines
                or task.duration_cycles < 0
                or task.result_latency_cycles < -task.duration_cycles
                or (len(deps) == 1 and not (0 <= deps[0] < n_tasks and deps[0] != i)
                    and not JOIN_BASE <= deps[0] < top)
                or (len(deps) > 1 and (min(deps) < 0 or i in deps or len(set(deps)) != len(deps)
                                       or (max(deps) >= n_tasks and (max(deps) >= top or any(
                                           n_tasks <= d < JOIN_BASE for d in deps)))))
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
        n_tasks, top = len(self.tasks), JOIN_BASE + len(self.joins)
        bad = next(d for d in task.deps
                   if not (0 <= d < n_tasks or JOIN_BASE <= d < top) or d == i)
        raise GraphError(f"{where}: task {task.name!r} depends on bad index {bad}")

    def node_of(self, dep: int) -> int:
        """The dependency id ``dep`` as a node index: a task's own index, join ``j``
        ``len(tasks) + j`` (the index space of `dependents`)."""
        return dep if dep < JOIN_BASE else len(self.tasks) + dep - JOIN_BASE

    def dependents(self) -> list[list[int]]:
        """For every node (every task, then every join: `node_of`), the nodes that
        wait for it directly, ascending. Without joins: per task, its dependents."""
        n_tasks = len(self.tasks)
        out: list[list[int]] = [[] for _ in range(n_tasks + len(self.joins))]
        for i, task in enumerate(self.tasks):
            for dep in task.deps:
                out[dep if dep < JOIN_BASE else n_tasks + dep - JOIN_BASE].append(i)
        for j, members in enumerate(self.joins):
            for dep in members:
                out[dep if dep < JOIN_BASE else n_tasks + dep - JOIN_BASE].append(n_tasks + j)
        return out  # ascending: tasks are visited first, in order, then joins

    def expanded_deps(self, task: int) -> tuple[int, ...]:
        """The tasks task ``task`` waits for, joins expanded (ascending, no repeats)."""
        out: set[int] = set()
        stack = list(self.tasks[task].deps)
        while stack:
            dep = stack.pop()
            if dep < JOIN_BASE:
                out.add(dep)
            else:
                stack.extend(self.joins[dep - JOIN_BASE])
        return tuple(sorted(out))

    def join_ready_cycles(self, task_ready_cycles: Sequence[int]) -> list[int]:
        """Per join, the cycle its result is visible (its members' latest), given
        every task's (``task_ready_cycles``, indexed like ``tasks``)."""
        out: list[int] = []
        for members in self.joins:
            out.append(max(task_ready_cycles[m] if m < JOIN_BASE else out[m - JOIN_BASE]
                           for m in members))
        return out
