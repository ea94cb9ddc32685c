"""Tasks as columns: the append-only table emitters write and a TaskGraph keeps.

A lowered layer has hundreds of thousands of tasks and a whole model millions;
one Python object per task (`sim.ir.taskgraph.Task`, its name string and its
tuple of dependencies) costs about 300 bytes and 0.7 µs to build. A
`TaskTable` keeps a task's integer fields as one row of a flat ``array('q')``
instead (8 bytes a value, no object per value; one ``extend`` a task) and the
dependencies in CSR form (one flat column of ids and the end offset of every
task's run of them); `freeze` turns it into `TaskColumns`, numpy arrays (views
of those buffers) the readers use directly.

Names are built when asked (`TaskColumns.name`), not stored: a *literal* task
keeps its name string; a *hop* task (`add_hop`) keeps the name of its message
(one string shared by all of the message's hops) and its packet number, and its
name is the message, packet, link and bytes formatted as
`sim.network.transport.hop_name` does, the link read from its engine's name
(``link.U->V``); a *core* task (`add_on_core`, a tile of an op on a core's
engine) is named ``op@cCORE`` or, for an op of several tiles, ``op@cCORE[TILE]``,
the core read from its engine. A hop task's engine must therefore be a link
engine so named, a core task's one with its core.

Examples
--------
>>> table = TaskTable()
>>> table.add("a", "mm", 0, 0, 3, 0, Category.SIMD, ())
0
>>> table.add_hop("m", 0, "mm", 0, 1, 2, -1, (0,), 64)
1
>>> table.add_on_core("mm", 2, 0, 1, 0, Category.SIMD, (1,), tiled=True)
2
>>> cols = table.freeze()
>>> from sim.ir.task import EngineKind
>>> engines = (Engine("core0.simd", EngineKind.SIMD, 0), Engine("link.3->4", EngineKind.LINK, None))
>>> cols.names(engines), cols.deps(1), cols.nbytes.tolist()
(['a', 'm:p0:3->4:64B', 'mm@c0[2]'], (0,), [0, 64, 0])
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from sim.ir.task import Category, Engine, Task

__all__ = ["CATEGORIES", "LITERAL", "ON_CORE", "ON_CORE_TILED", "TaskColumns", "TaskSink",
           "TaskTable"]

#: Category codes of the ``category`` column: ``CATEGORIES[code]``.
CATEGORIES: tuple[Category, ...] = tuple(Category)
_CODE = {c: i for i, c in enumerate(CATEGORIES)}
_COMMUNICATION = _CODE[Category.COMMUNICATION]
#: ``name_packets`` of a literal task (its ``name_base`` is its whole name), of a
#: core task of an untiled op (``op@cCORE``) and of a tiled one (``op@cCORE[TILE]``);
#: a hop task's is its packet number (>= 0).
LITERAL, ON_CORE, ON_CORE_TILED = -1, -2, -3


class TaskTable:
    """Tasks being emitted, a row of integers each (module docstring); append-only.

    Task ``i`` is the ``i``-th `add`, `add_hop` or `append`; ``len`` is the
    index the next task gets, as with a list of tasks."""

    __slots__ = ("_dep_ends", "_deps", "_name_bases", "_op_code", "_rows")

    #: The fields of a row of ``_rows``, in order (all int64).
    _ROW = ("name_packets", "op_codes", "tile", "engine", "duration_cycles",
            "result_latency_cycles", "category", "nbytes")

    def __init__(self) -> None:
        self._name_bases: list[str] = []
        self._op_code: dict[str, int] = {}
        # one row of `_ROW` per task, flat: one `extend` a task (the innermost loop)
        self._rows = array("q")
        self._deps = array("q")
        self._dep_ends = array("q")

    def __len__(self) -> int:
        return len(self._dep_ends)

    def _code(self, op: str) -> int:
        code = self._op_code.get(op)
        if code is None:
            code = self._op_code[op] = len(self._op_code)
        return code

    def add(self, name: str, op: str, tile: int, engine: int, duration_cycles: int,
            result_latency_cycles: int, category: Category, deps: Iterable[int],
            nbytes: int = 0) -> int:
        """Append one task (the fields of `Task`, in its order); return its index."""
        code = self._op_code.get(op)
        self._name_bases.append(name)
        self._rows.extend((LITERAL, self._code(op) if code is None else code, tile, engine,
                           duration_cycles, result_latency_cycles, _CODE[category], nbytes))
        self._deps.extend(deps)
        self._dep_ends.append(len(self._deps))
        return len(self._dep_ends) - 1

    def add_hop(self, message: str, packet: int, op: str, tile: int, engine: int,
                duration_cycles: int, result_latency_cycles: int, deps: Iterable[int],
                nbytes: int) -> int:
        """Append one hop task of packet ``packet`` of ``message`` on link ``engine``
        (a communication task; its name is built when asked); return its index."""
        code = self._op_code.get(op)
        self._name_bases.append(message)
        self._rows.extend((packet, self._code(op) if code is None else code, tile, engine,
                           duration_cycles, result_latency_cycles, _COMMUNICATION, nbytes))
        self._deps.extend(deps)
        self._dep_ends.append(len(self._deps))
        return len(self._dep_ends) - 1

    def add_hop_chain(self, message: str, packet: int, op: str, tile: int,
                      engines: Sequence[int], duration_cycles: int,
                      result_latency_cycles: Sequence[int], deps: Iterable[int],
                      nbytes: int) -> int:
        """Append a packet's chain of hop tasks in one call: hop ``k`` on link
        ``engines[k]`` with ``result_latency_cycles[k]``, the first waiting for
        ``deps`` and every later one for the hop before it; the same rows as
        `add_hop` called hop by hop. Return the last hop's index (``engines`` must
        not be empty)."""
        count = len(engines)
        code = self._op_code.get(op)
        if code is None:
            code = self._code(op)
        first = len(self._dep_ends)
        self._name_bases.extend([message] * count)
        row = [packet, code, tile, 0, duration_cycles, 0, _COMMUNICATION, nbytes] * count
        row[3::8] = engines
        row[5::8] = result_latency_cycles
        self._rows.extend(row)
        self._deps.extend(deps)
        end = len(self._deps)
        self._deps.extend(range(first, first + count - 1))
        self._dep_ends.extend(range(end, end + count))
        return first + count - 1

    def add_on_core(self, op: str, tile: int, engine: int, duration_cycles: int,
                    result_latency_cycles: int, category: Category, deps: Iterable[int], *,
                    tiled: bool) -> int:
        """Append tile ``tile`` of ``op`` on a core's engine ``engine`` (named when
        asked: module docstring; ``tiled``: the op has several tiles); return its index."""
        code = self._op_code.get(op)
        self._name_bases.append(op)
        self._rows.extend((ON_CORE_TILED if tiled else ON_CORE,
                           self._code(op) if code is None else code, tile, engine,
                           duration_cycles, result_latency_cycles, _CODE[category], 0))
        self._deps.extend(deps)
        self._dep_ends.append(len(self._deps))
        return len(self._dep_ends) - 1

    def add_core_tiles(self, op: str, engine: int, duration_cycles: Sequence[int],
                       result_latency_cycles: Sequence[int], category: Category,
                       deps: Sequence[Iterable[int]], *, tiled: bool) -> int:
        """Append tiles ``0 .. len(deps) - 1`` of ``op`` on engine ``engine`` in one
        call, tile ``t`` with ``duration_cycles[t]``, ``result_latency_cycles[t]`` and
        ``deps[t]``: the same rows as `add_on_core` called tile by tile. Return the
        first tile's index."""
        code = self._op_code.get(op)
        if code is None:
            code = self._code(op)
        first = len(self._dep_ends)
        count = len(deps)
        kind = ON_CORE_TILED if tiled else ON_CORE
        self._name_bases.extend([op] * count)
        row = [kind, code, 0, engine, 0, 0, _CODE[category], 0] * count
        row[2::8] = range(count)
        row[4::8] = duration_cycles[:count]
        row[5::8] = result_latency_cycles[:count]
        self._rows.extend(row)
        dep_ids, ends = self._deps, self._dep_ends
        for tile_deps in deps:
            dep_ids.extend(tile_deps)
            ends.append(len(dep_ids))
        return first

    def append(self, task: Task) -> None:
        """Append a `Task` object (as a list of tasks would)."""
        self.add(task.name, task.op, task.tile, task.engine, task.duration_cycles,
                 task.result_latency_cycles, task.category, task.deps, task.nbytes)

    def freeze(self) -> TaskColumns:
        """The table as `TaskColumns`: numpy arrays over the table's own buffers (no
        copy but the int8 categories), so the table takes no more tasks afterwards
        (an append raises BufferError)."""
        n_tasks = len(self._dep_ends)
        offsets = np.zeros(n_tasks + 1, dtype=np.int64)
        if n_tasks:
            offsets[1:] = np.frombuffer(self._dep_ends, dtype=np.int64)
            rows = np.frombuffer(self._rows, dtype=np.int64).reshape(n_tasks, len(self._ROW))
        else:
            rows = np.zeros((0, len(self._ROW)), dtype=np.int64)
        field = dict(zip(self._ROW, rows.T, strict=True))  # strided views, not copies
        ops = tuple(sorted(self._op_code, key=self._op_code.__getitem__))
        deps = np.frombuffer(self._deps, dtype=np.int64) if len(self._deps) else np.zeros(
            0, np.int64)
        return TaskColumns(
            name_bases=tuple(self._name_bases), name_packets=field["name_packets"],
            op_codes=field["op_codes"], op_names=ops, tile=field["tile"],
            engine=field["engine"], duration_cycles=field["duration_cycles"],
            result_latency_cycles=field["result_latency_cycles"],
            category=field["category"].astype(np.int8), nbytes=field["nbytes"],
            dep_offsets=offsets, dep_ids=deps,
        )

    @classmethod
    def of(cls, tasks: Iterable[Task]) -> TaskTable:
        """A table holding ``tasks`` (literal names)."""
        table = cls()
        for task in tasks:
            table.append(task)
        return table


@dataclass(frozen=True, eq=False)
class TaskColumns:
    """Every task's fields as numpy columns (int64 unless said), index = task index.

    ``name_bases[i]`` with ``name_packets[i] == -1`` is task ``i``'s name; with a
    packet number ``k >= 0`` it is the message of hop task ``i`` (`name`).
    ``op_names[op_codes[i]]`` is its op, ``CATEGORIES[category[i]]`` its
    category (int8 codes). Task ``i``'s dependency ids are
    ``dep_ids[dep_offsets[i]:dep_offsets[i + 1]]`` (tasks, or joins:
    `sim.ir.taskgraph.join_ref`)."""

    name_bases: tuple[str, ...]
    name_packets: np.ndarray
    op_codes: np.ndarray
    op_names: tuple[str, ...]
    tile: np.ndarray
    engine: np.ndarray
    duration_cycles: np.ndarray
    result_latency_cycles: np.ndarray
    category: np.ndarray
    nbytes: np.ndarray
    dep_offsets: np.ndarray
    dep_ids: np.ndarray

    def __len__(self) -> int:
        return len(self.engine)

    def name(self, index: int, engines: Sequence[Engine]) -> str:
        """Task ``index``'s name; ``engines[e]`` is engine ``e`` (a hop's link is read
        from its name, ``link.U->V``; a core task's core from its ``core``)."""
        return _name(self.name_bases[index], int(self.name_packets[index]),
                     engines[int(self.engine[index])], int(self.tile[index]),
                     int(self.nbytes[index]))

    def names(self, engines: Sequence[Engine]) -> list[str]:
        """Every task's name (`name`), in task order."""
        return [_name(base, packet, engines[engine], tile, nbytes)
                for base, packet, engine, tile, nbytes in zip(
                    self.name_bases, self.name_packets.tolist(), self.engine.tolist(),
                    self.tile.tolist(), self.nbytes.tolist(), strict=True)]

    def deps(self, index: int) -> tuple[int, ...]:
        """Task ``index``'s dependency ids, in emission order."""
        lo, hi = int(self.dep_offsets[index]), int(self.dep_offsets[index + 1])
        return tuple(self.dep_ids[lo:hi].tolist())

    def dep_counts(self) -> np.ndarray:
        """How many dependency ids every task lists."""
        return np.diff(self.dep_offsets)

    def is_communication(self) -> np.ndarray:
        """Per task, whether its category is communication (bool)."""
        return self.category == _COMMUNICATION

    def tasks(self, engines: Sequence[Engine]) -> tuple[Task, ...]:
        """The columns as `Task` objects (for readers that want them; costs a
        Python object per task)."""
        ops, cats = self.op_names, CATEGORIES
        offsets = self.dep_offsets.tolist()
        dep_ids = self.dep_ids.tolist()
        return tuple(
            Task(name, ops[op], tile, engine, duration, latency, cats[category],
                 tuple(dep_ids[offsets[i]:offsets[i + 1]]), nbytes)
            for i, (name, op, tile, engine, duration, latency, category, nbytes) in enumerate(
                zip(self.names(engines), self.op_codes.tolist(), self.tile.tolist(),
                    self.engine.tolist(), self.duration_cycles.tolist(),
                    self.result_latency_cycles.tolist(), self.category.tolist(),
                    self.nbytes.tolist(), strict=True)))


def _name(base: str, packet: int, engine: Engine, tile: int, nbytes: int) -> str:
    """A task's name from its columns (module docstring)."""
    if packet == LITERAL:
        return base
    if packet >= 0:
        return f"{base}:p{packet}:{engine.name.removeprefix('link.')}:{nbytes}B"
    return f"{base}@c{engine.core}[{tile}]" if packet == ON_CORE_TILED else f"{base}@c{engine.core}"


#: Where emitters append tasks: a list of `Task` objects or a `TaskTable`
#: (both take ``append(task)`` and give ``len``; a table also ``add`` and ``add_hop``).
TaskSink = list[Task] | TaskTable
