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
from itertools import pairwise
from typing import Any

import numpy as np

from sim.errors import GraphError
from sim.ir.task import JOIN_BASE, Category, Engine, EngineKind, Task, is_join, join_ref
from sim.ir.task_table import LITERAL, ON_CORE_TILED, TaskColumns, TaskTable

__all__ = [
    "JOIN_BASE",
    "Category",
    "Engine",
    "EngineKind",
    "Task",
    "TaskColumns",
    "TaskGraph",
    "TaskTable",
    "is_join",
    "join_ref",
]


class TaskGraph:
    """Engines, tasks and joins (module docstring). Task order is program order: it
    breaks ties in the DES. ``joins[j]`` lists the dependency ids (tasks, or joins
    before ``j``) join ``j`` waits for.

    The tasks are kept as columns (`columns`, `sim.ir.task_table`); `tasks` builds
    `Task` objects from them on first use (one Python object per task: readers of
    large graphs use the columns). Built from ``tasks`` (a sequence of `Task`) or,
    by emitters, from a `TaskTable` (`from_table`). Immutable.
    """

    __slots__ = ("_columns", "_tasks", "_validated", "engines", "joins")

    def __init__(self, engines: tuple[Engine, ...], tasks: Sequence[Task] = (),
                 joins: tuple[tuple[int, ...], ...] = ()) -> None:
        self.engines = tuple(engines)
        self.joins = tuple(tuple(members) for members in joins)
        self._columns = TaskTable.of(tasks).freeze()
        self._tasks: tuple[Task, ...] | None = tuple(tasks) if isinstance(tasks, tuple) else None
        self._validated = False

    @classmethod
    def from_table(cls, engines: tuple[Engine, ...], table: TaskTable | TaskColumns,
                   joins: tuple[tuple[int, ...], ...] = ()) -> TaskGraph:
        """A graph of the tasks in ``table`` (no `Task` object is built)."""
        graph = cls.__new__(cls)
        graph.engines = tuple(engines)
        graph.joins = tuple(tuple(members) for members in joins)
        graph._columns = table.freeze() if isinstance(table, TaskTable) else table
        graph._tasks = None
        graph._validated = False
        return graph

    @property
    def columns(self) -> TaskColumns:
        """Every task's fields as numpy columns (`sim.ir.task_table.TaskColumns`)."""
        return self._columns

    @property
    def tasks(self) -> tuple[Task, ...]:
        """The tasks as `Task` objects, in program order (built on first use)."""
        if self._tasks is None:
            self._tasks = self._columns.tasks(self.engines)
        return self._tasks

    def __len__(self) -> int:
        """The number of tasks."""
        return len(self._columns)

    def name(self, task: int) -> str:
        """Task ``task``'s name (without building every task)."""
        if self._tasks is not None:
            return self._tasks[task].name
        return self._columns.name(task, self.engines)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TaskGraph):
            return NotImplemented
        return (self.engines == other.engines and self.joins == other.joins
                and self.tasks == other.tasks)

    def __hash__(self) -> int:
        return hash((self.engines, len(self)))

    def __repr__(self) -> str:
        return f"TaskGraph({len(self.engines)} engines, {len(self)} tasks, {len(self.joins)} joins)"

    def __setattr__(self, name: str, value: Any) -> None:
        if getattr(self, "_validated", None) is not None and name in ("engines", "joins"):
            raise AttributeError(f"TaskGraph.{name} cannot be changed")
        object.__setattr__(self, name, value)

    def validate(self, where: str) -> None:
        """Check indices, durations and names (not acyclicity: the DES reports
        tasks stuck behind a cycle as a deadlock). A graph that passed once is
        remembered as valid (nothing in it can change), so validating it again
        (`lower`, then the DES) costs nothing.

        Names must be unique: literal names among themselves, hop tasks by
        (message, packet, link) (`sim.ir.task_table`).

        Raises
        ------
        GraphError
            Naming ``where`` and the first bad task.
        """
        if self._validated:
            return
        cols = self._columns
        n_tasks, n_engines = len(cols), len(self.engines)
        self._check_names(where)
        for j, members in enumerate(self.joins):
            if not members or len(set(members)) != len(members) or any(
                    m < 0 or n_tasks <= m < JOIN_BASE or m >= JOIN_BASE + j for m in members):
                raise GraphError(f"{where}: join {j} has no members, a repeated one or a bad "
                                 f"one (tasks, or joins before it): {members[:8]}")
        top = JOIN_BASE + len(self.joins)
        bad = (cols.engine < 0) | (cols.engine >= n_engines) | (cols.duration_cycles < 0) | (
            cols.result_latency_cycles < -cols.duration_cycles)
        owner = np.repeat(np.arange(n_tasks, dtype=np.int64), cols.dep_counts())
        ids = cols.dep_ids
        bad_dep = ((ids < 0) | ((ids >= n_tasks) & (ids < JOIN_BASE)) | (ids >= top)
                   | (ids == owner))
        if bad_dep.any():
            bad[owner[bad_dep]] = True
        if ids.size > 1:  # a repeated dependency: where a task's ids do not ascend, sort
            same = owner[1:] == owner[:-1]
            unsorted = np.unique(owner[1:][same & (ids[1:] <= ids[:-1])])
            if unsorted.size:
                pick = np.isin(owner, unsorted)
                key_owner, key_ids = owner[pick], ids[pick]
                order = np.lexsort((key_ids, key_owner))
                key_owner, key_ids = key_owner[order], key_ids[order]
                repeated = (key_owner[1:] == key_owner[:-1]) & (key_ids[1:] == key_ids[:-1])
                bad[key_owner[1:][repeated]] = True
        if bad.any():
            self._explain(int(np.flatnonzero(bad)[0]), where)
        self._validated = True

    def _check_names(self, where: str) -> None:
        """Literal names unique among themselves; built names unique by (base,
        kind or packet, engine, tile), as integer keys (no Python object per task)."""
        cols = self._columns
        literal = cols.name_packets == LITERAL
        bases = cols.name_bases
        first_duplicate: int | None = None
        literal_at = np.flatnonzero(literal).tolist()
        names = [bases[i] for i in literal_at]
        if len(set(names)) != len(names):
            seen: set[str] = set()
            for i, name in zip(literal_at, names, strict=True):
                if name in seen:
                    first_duplicate = i
                    break
                seen.add(name)
        built = np.flatnonzero(~literal)
        if built.size and first_duplicate is None:
            codes: dict[str, int] = {}
            base = np.fromiter((codes.setdefault(bases[i], len(codes)) for i in built.tolist()),
                               dtype=np.int64, count=built.size)
            fields = [base, cols.name_packets[built] - ON_CORE_TILED, cols.engine[built],
                      cols.tile[built]]
            key = np.zeros(built.size, dtype=np.int64)
            span = 1
            for field in fields:  # a mixed-radix integer while it fits 62 bits
                top = int(field.max()) + 1
                if field.min() < 0 or span * top >= 1 << 62:
                    key = np.unique(np.stack(fields, axis=1), axis=0, return_inverse=True)[1]
                    key = key.reshape(-1)
                    break
                key += field * span
                span *= top
            order = np.argsort(key, kind="stable")
            repeated = np.flatnonzero(key[order][1:] == key[order][:-1])
            if repeated.size:
                first_duplicate = int(built[order[repeated + 1]].min())
        if first_duplicate is not None:
            raise GraphError(f"{where}: duplicate task name {self.name(first_duplicate)!r}")

    def _explain(self, i: int, where: str) -> None:
        """Raise the GraphError describing what is wrong with task ``i``."""
        cols = self._columns
        name = self.name(i) if 0 <= int(cols.engine[i]) < len(self.engines) else \
            cols.name_bases[i]
        duration, latency = int(cols.duration_cycles[i]), int(cols.result_latency_cycles[i])
        if not 0 <= int(cols.engine[i]) < len(self.engines):
            raise GraphError(f"{where}: task {name!r} names engine {int(cols.engine[i])}")
        if duration < 0 or latency < -duration:
            raise GraphError(f"{where}: task {name!r} has a negative time")
        deps = cols.deps(i)
        if len(set(deps)) != len(deps):
            raise GraphError(f"{where}: task {name!r} lists a dependency twice")
        n_tasks, top = len(cols), JOIN_BASE + len(self.joins)
        bad = next(d for d in deps
                   if not (0 <= d < n_tasks or JOIN_BASE <= d < top) or d == i)
        raise GraphError(f"{where}: task {name!r} depends on bad index {bad}")

    def node_of(self, dep: int) -> int:
        """The dependency id ``dep`` as a node index: a task's own index, join ``j``
        ``len(tasks) + j`` (the index space of `dependents`)."""
        return dep if dep < JOIN_BASE else len(self) + dep - JOIN_BASE

    def dependent_csr(self) -> tuple[np.ndarray, np.ndarray]:
        """`dependents` in CSR form: ``(offsets, nodes)``, node ``k``'s dependents
        being ``nodes[offsets[k]:offsets[k + 1]]`` (ascending)."""
        cols = self._columns
        n_tasks = len(cols)
        n_nodes = n_tasks + len(self.joins)
        owner = np.repeat(np.arange(n_tasks, dtype=np.int64), cols.dep_counts())
        ids = cols.dep_ids
        if self.joins:
            sizes = np.fromiter((len(m) for m in self.joins), dtype=np.int64,
                                count=len(self.joins))
            members = np.fromiter((d for m in self.joins for d in m), dtype=np.int64,
                                  count=int(sizes.sum()))
            owner = np.concatenate((owner, np.repeat(
                np.arange(n_tasks, n_nodes, dtype=np.int64), sizes)))
            ids = np.concatenate((ids, members))
        node = np.where(ids >= JOIN_BASE, ids - JOIN_BASE + n_tasks, ids)
        order = np.argsort(node, kind="stable")  # owners ascending within a node
        offsets = np.zeros(n_nodes + 1, dtype=np.int64)
        np.cumsum(np.bincount(node, minlength=n_nodes), out=offsets[1:])
        return offsets, owner[order]

    def dependents(self) -> list[list[int]]:
        """For every node (every task, then every join: `node_of`), the nodes that
        wait for it directly, ascending. Without joins: per task, its dependents."""
        offsets, nodes = self.dependent_csr()
        flat, bounds = nodes.tolist(), offsets.tolist()
        return [flat[a:b] for a, b in pairwise(bounds)]

    def expanded_deps(self, task: int) -> tuple[int, ...]:
        """The tasks task ``task`` waits for, joins expanded (ascending, no repeats)."""
        out: set[int] = set()
        stack = list(self._columns.deps(task))
        while stack:
            dep = stack.pop()
            if dep < JOIN_BASE:
                out.add(dep)
            else:
                stack.extend(self.joins[dep - JOIN_BASE])
        return tuple(sorted(out))

    def join_ready_cycles(self, task_ready_cycles: Sequence[int] | np.ndarray) -> list[int]:
        """Per join, the cycle its result is visible (its members' latest), given
        every task's (``task_ready_cycles``, indexed like ``tasks``)."""
        ready = np.asarray(task_ready_cycles, dtype=np.int64)
        out: list[int] = []
        for members in self.joins:
            ids = np.asarray(members, dtype=np.int64)
            tasks, joins = ids[ids < JOIN_BASE], ids[ids >= JOIN_BASE] - JOIN_BASE
            latest = [int(ready[tasks].max())] if tasks.size else []
            out.append(max(latest + [out[j] for j in joins.tolist()]))
        return out
