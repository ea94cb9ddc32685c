"""Pipeline stages on a task graph: which stage each task is of, the stage
barrier, and the whole micro-batched pass as one graph.

A task belongs to the stage of its op's layer (`sim.schedule.placement.
group_of_layer`): a movement named after its consumer (``B<A.gather``) to the
consumer's, a hand-off named after its producer (``A>move``) to the producer's.
Built on the task columns (`sim.ir.task_table.TaskColumns`) with numpy: no
`Task` object per task.

`staged_graph` puts the `sim.serving.pipeline` model on task graphs: each
micro-batch's copy of the graph, with

- a *barrier*: every task of stage s that waits for nothing in stage s (its
  stage's sources) also waits for the whole of stage s - 1 of its micro-batch,
  a join; by induction every task of the stage then does;
- a *lock* (two or more micro-batches): those sources also wait for the whole
  of stage s of the micro-batch before.

One micro-batch alone: its stages run one after the other, each alone on the
machine, so the stage times ``t_s`` are read off one simulation (`leave_cycles`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import singledispatch

import numpy as np

from sim.errors import GraphError
from sim.ir import OpGraph, TaskGraph
from sim.ir.plan import CollectiveStep, LoweringPlan, MessageStep, MoveStep, OpStep, Step
from sim.ir.task import JOIN_BASE, EngineKind, join_ref
from sim.ir.task_table import TaskColumns
from sim.schedule.placement import group_of_layer

__all__ = ["leave_cycles", "memory_busy_cycles", "shared_engines", "staged_graph",
           "step_stages", "task_stages"]

_BASE = re.compile(r"[<>]")


def task_stages(graph: TaskGraph, ops: OpGraph, stages: list[range]) -> np.ndarray:
    """The stage of every task of ``graph`` (int64), lowered from ``ops``."""
    cols = graph.columns
    layer_of = {op.name: int(op.attrs.get("layer", 0)) for op in ops.ops}
    stage_of_op = np.zeros(len(cols.op_names), dtype=np.int64)
    for code, name in enumerate(cols.op_names):
        stage_of_op[code] = group_of_layer(_layer(name, layer_of), len(stages), stages)
    return stage_of_op[cols.op_codes]


@singledispatch
def _task_ops(step: Step) -> tuple[str, ...]:
    """The ops (task ``op``) of the tasks ``step`` emits with closed-form collectives
    (`sim.backends.task_emitter`)."""
    raise TypeError(f"no task ops for a {type(step).__name__}")


@_task_ops.register
def _op_task_ops(step: OpStep) -> tuple[str, ...]:
    """An op step's: its tiles (or reads) and, streamed, their streams and tails
    (`sim.backends.lpddr_streams`)."""
    if not step.cores:
        return ()
    return (step.name, f"{step.name}.lpddr", f"{step.name}.lpddr_tail") if step.lpddr_bytes \
        else (step.name,)


@_task_ops.register
def _move_task_ops(step: MoveStep) -> tuple[str, ...]:
    """A movement's: its collectives over two or more cores (one over a single core
    moves nothing and emits no task)."""
    return tuple(r.name for r in step.requests if len(r.cores) > 1)


@_task_ops.register
def _message_task_ops(step: MessageStep) -> tuple[str, ...]:
    return (step.op,) if step.src_cores else ()


@_task_ops.register
def _collective_task_ops(step: CollectiveStep) -> tuple[str, ...]:
    return (step.name,)


def step_stages(plan: LoweringPlan, ops: OpGraph, stages: list[range]) -> np.ndarray | None:
    """The stage of the tasks of every step of ``plan`` (int64; -1: a step that emits
    none), lowered from ``ops``, as `task_stages` gives them from the tasks' ops;
    None if one step's tasks would be of different stages."""
    layer_of = {op.name: int(op.attrs.get("layer", 0)) for op in ops.ops}
    out = np.full(len(plan.steps), -1, dtype=np.int64)
    for index, step in enumerate(plan.steps):
        got = {group_of_layer(_layer(name, layer_of), len(stages), stages)
               for name in _task_ops(step)}
        if len(got) > 1:
            return None
        if got:
            out[index] = got.pop()
    return out


def _layer(name: str, layer_of: dict[str, int]) -> int:
    """The layer of the op a task of op ``name`` serves: the op itself, or for a
    step the mapping inserted (``A.partials.s0.start``, ``B<A.gather``,
    ``A>move``) the longest dotted prefix of it that is an op; 0 if none is."""
    base = _BASE.split(name, maxsplit=1)[0]
    while base not in layer_of and "." in base:
        base = base.rsplit(".", 1)[0]
    return layer_of.get(base, 0)


def _join_stages(graph: TaskGraph, stage: np.ndarray) -> np.ndarray:
    """Per join, the latest stage among its members (tasks and earlier joins)."""
    out = np.zeros(len(graph.joins), dtype=np.int64)
    for j, members in enumerate(graph.joins):
        ids = np.asarray(members, dtype=np.int64)
        tasks, joins = ids[ids < JOIN_BASE], ids[ids >= JOIN_BASE] - JOIN_BASE
        out[j] = max(int(stage[tasks].max()) if tasks.size else 0,
                     int(out[joins].max()) if joins.size else 0)
    return out


def _sources(graph: TaskGraph, stage: np.ndarray) -> np.ndarray:
    """Per task, whether it waits for nothing in its own stage (bool)."""
    cols = graph.columns
    ids = cols.dep_ids
    dep_stage = np.empty(ids.size, dtype=np.int64)
    is_join = ids >= JOIN_BASE
    dep_stage[~is_join] = stage[ids[~is_join]]
    if is_join.any():
        dep_stage[is_join] = _join_stages(graph, stage)[ids[is_join] - JOIN_BASE]
    owner = np.repeat(np.arange(len(stage), dtype=np.int64), cols.dep_counts())
    inside = np.zeros(len(stage), dtype=bool)
    np.logical_or.at(inside, owner, dep_stage == stage[owner])
    return ~inside


def staged_graph(copies: Sequence[TaskGraph], stages: Sequence[np.ndarray],
                 n_stages: int) -> tuple[TaskGraph, np.ndarray]:
    """One graph of every micro-batch's copy (``copies[k]``, its tasks' stages
    ``stages[k]``) with the barriers and locks of the module docstring, and the
    (micro-batch, stage) of each of its tasks as ``k * n_stages + s``.

    Copies keep their engines (they are the same machine); with more than one,
    names and ops gain the prefix ``M{k}.``.

    Raises
    ------
    GraphError
        If the copies are not lowered onto the same engines.
    """
    engines = copies[0].engines
    if any(copy.engines != engines for copy in copies):
        raise GraphError("serving: micro-batches lowered onto different engines")
    prefix = len(copies) > 1
    task_base, join_base = [0], [0]
    for copy in copies:
        task_base.append(task_base[-1] + len(copy))
        join_base.append(join_base[-1] + len(copy.joins))
    n_tasks, old_joins = task_base[-1], join_base[-1]
    cell = np.concatenate([k * n_stages + stage for k, stage in enumerate(stages)])
    members = _stage_members(cell, len(copies) * n_stages)
    new_join = {c: old_joins + i for i, c in enumerate(sorted(members))}

    def shift(ids: np.ndarray, k: int) -> np.ndarray:
        return np.where(ids >= JOIN_BASE, ids + join_base[k], ids + task_base[k])

    joins: list[tuple[int, ...]] = []
    owners, deps = [], []
    parts: dict[str, list[np.ndarray]] = {f: [] for f in _FIELDS}
    bases: list[str] = []
    op_names: list[str] = []
    for k, copy in enumerate(copies):
        cols = copy.columns
        joins.extend(tuple(int(x) for x in shift(np.asarray(m, dtype=np.int64), k))
                     for m in copy.joins)
        owners.append(np.repeat(np.arange(len(copy), dtype=np.int64), cols.dep_counts())
                      + task_base[k])
        deps.append(shift(cols.dep_ids, k))
        extra_owner, extra_dep = _extra_deps(copy, stages[k], k, n_stages, new_join)
        owners.append(extra_owner + task_base[k])
        deps.append(extra_dep)
        for f in _FIELDS:
            parts[f].append(getattr(cols, f))
        parts["op_codes"][-1] = cols.op_codes + len(op_names)
        tag = f"M{k}." if prefix else ""
        bases.extend(tag + b for b in cols.name_bases)
        op_names.extend(tag + o for o in cols.op_names)
    joins.extend(tuple(int(x) for x in members[c]) for c in sorted(members))
    owner, dep = np.concatenate(owners), np.concatenate(deps)
    order = np.lexsort((dep, owner))
    offsets = np.zeros(n_tasks + 1, dtype=np.int64)
    offsets[1:] = np.cumsum(np.bincount(owner, minlength=n_tasks))
    columns = TaskColumns(
        name_bases=tuple(bases), op_names=tuple(op_names), dep_offsets=offsets,
        dep_ids=dep[order], **{f: np.concatenate(parts[f]) for f in _FIELDS})
    return TaskGraph.from_table(engines, columns, tuple(joins)), cell


#: The per-task columns copied as they are (``op_codes`` shifted per copy).
_FIELDS = ("name_packets", "op_codes", "tile", "engine", "duration_cycles",
           "result_latency_cycles", "category", "nbytes")


def _stage_members(cell: np.ndarray, cells: int) -> dict[int, np.ndarray]:
    """The task ids of every (micro-batch, stage) cell that has tasks."""
    order = np.argsort(cell, kind="stable")
    bounds = np.searchsorted(cell[order], np.arange(cells + 1))
    return {c: order[bounds[c]:bounds[c + 1]] for c in range(cells)
            if bounds[c + 1] > bounds[c]}


def _extra_deps(copy: TaskGraph, stage: np.ndarray, k: int, n_stages: int,
                new_join: dict[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The (task, join id) pairs of copy ``k``: its stage sources wait for the
    barrier of stage s - 1 and the lock of the micro-batch before."""
    source = np.flatnonzero(_sources(copy, stage))
    owners, deps = [], []
    cells = k * n_stages + stage[source]
    for gap, allowed in ((1, stage[source] > 0), (n_stages, np.full(source.size, k > 0))):
        want = cells - gap
        keep = allowed & np.isin(want, list(new_join))
        owners.append(source[keep])
        deps.append(np.asarray([join_ref(new_join[c]) for c in want[keep].tolist()],
                               dtype=np.int64))
    return np.concatenate(owners), np.concatenate(deps)


def leave_cycles(graph: TaskGraph, ready_cycles: np.ndarray, cell: np.ndarray,
                 cells: int) -> np.ndarray:
    """Per (micro-batch, stage) cell, when its last result is visible (-1: no task)."""
    out = np.full(cells, -1, dtype=np.int64)
    np.maximum.at(out, cell, np.asarray(ready_cycles[:len(graph)], dtype=np.int64))
    return out


def shared_engines(graph: TaskGraph, stage: np.ndarray) -> dict[str, tuple[int, ...]]:
    """The engines that tasks of more than one stage use, with those stages: where
    the pipeline model is not proven exact (stages may contend)."""
    pairs = np.unique(np.stack([graph.columns.engine, stage]), axis=1)
    engines, counts = np.unique(pairs[0], return_counts=True)
    out = {}
    for engine in engines[counts > 1].tolist():
        used = pairs[1][pairs[0] == engine]
        out[graph.engines[engine].name] = tuple(int(s) for s in used)
    return out


def memory_busy_cycles(graph: TaskGraph, stage: np.ndarray, n_stages: int) -> list[int]:
    """Per stage, the cycles its tasks hold LPDDR engines (`EngineKind.MEMORY`)."""
    kinds = np.asarray([e.kind == EngineKind.MEMORY for e in graph.engines], dtype=bool)
    cols = graph.columns
    on_memory = kinds[cols.engine] if len(cols) else np.zeros(0, dtype=bool)
    busy = np.bincount(stage[on_memory], weights=cols.duration_cycles[on_memory],
                       minlength=n_stages)
    return [int(b) for b in busy[:n_stages]]
