"""Task graphs as columns: the table, its names, and the readers that use numpy.

The column readers (dependents, queueing, link traffic, engine busy cycles, op
table) are checked against plain per-task loops over `Task` objects, written
here from their definitions, on random graphs with joins, hops and core tasks.
"""

from __future__ import annotations

import random

import pytest

from sim.backends import run_des
from sim.ir import Category, Engine, EngineKind, Task, TaskGraph, TaskTable
from sim.ir.taskgraph import JOIN_BASE, join_ref
from sim.network.traffic import link_traffic, queueing_cycles
from sim.network.transport import hop_name

ENGINES = (Engine("core0.matmul", EngineKind.MATMUL, 0), Engine("core0.simd", EngineKind.SIMD, 0),
           Engine("core1.simd", EngineKind.SIMD, 1), Engine("link.0->1", EngineKind.LINK, None),
           Engine("link.1->0", EngineKind.LINK, None))
LINKS = {3: (0, 1), 4: (1, 0)}


def _random_table(seed: int, n_tasks: int = 60) -> tuple[TaskTable, list[tuple[int, ...]]]:
    """A random acyclic table (deps point backwards) with literal, hop and core tasks,
    and joins of earlier tasks."""
    rng = random.Random(seed)
    table = TaskTable()
    joins: list[tuple[int, ...]] = []
    for i in range(n_tasks):
        earlier = list(range(i))
        deps = sorted(rng.sample(earlier, min(len(earlier), rng.randint(0, 3))))
        if i > 4 and rng.random() < 0.2:
            joins.append(tuple(sorted(rng.sample(earlier, 3))))
            deps = [*deps, join_ref(len(joins) - 1)]
        kind = rng.choice(("literal", "hop", "core"))
        duration = rng.randint(0, 9)
        if kind == "hop":
            engine = rng.choice((3, 4))
            table.add_hop(f"m{i}", rng.randint(0, 2), f"op{i % 4}", 0, engine, duration,
                          rng.randint(-duration, 3), deps, rng.randint(1, 200))
        elif kind == "core":
            table.add_on_core(f"op{i % 4}", i, rng.choice((0, 1, 2)), duration,
                              rng.randint(0, 3), Category.MATMUL, deps, tiled=True)
        else:
            table.add(f"t{i}", f"op{i % 4}", 0, rng.choice((0, 1, 2)), duration,
                      rng.randint(0, 3), Category.SIMD, deps)
    return table, joins


def _expand(graph: TaskGraph, dep: int) -> list[int]:
    if dep < JOIN_BASE:
        return [dep]
    return [t for m in graph.joins[dep - JOIN_BASE] for t in _expand(graph, m)]


@pytest.mark.parametrize("seed", range(8))
def test_column_readers_equal_per_task_loops(seed: int) -> None:
    table, joins = _random_table(seed)
    graph = TaskGraph.from_table(ENGINES, table, tuple(joins))
    graph.validate("random")
    tasks = graph.tasks
    timeline = run_des(graph)
    # the same graph given as Task objects runs the same
    assert run_des(TaskGraph(ENGINES, tasks, tuple(joins))) == timeline
    # dependents: every node's waiters, ascending
    naive: list[list[int]] = [[] for _ in range(len(tasks) + len(joins))]
    for i, task in enumerate(tasks):
        for d in task.deps:
            naive[graph.node_of(d)].append(i)
    for j, members in enumerate(joins):
        for d in members:
            naive[graph.node_of(d)].append(len(tasks) + j)
    assert graph.dependents() == [sorted(x) for x in naive]
    # queueing: start minus the latest ready of what it waits for (joins expanded)
    ready = timeline.ready_cycles
    expected = tuple(timeline.start_cycles[i] - max(
        (ready[t] for d in task.deps for t in _expand(graph, d)), default=0)
        for i, task in enumerate(tasks))
    assert queueing_cycles(graph, timeline) == expected
    # link traffic: bytes, busy cycles and hops summed over each link's tasks
    for engine, (u, v) in LINKS.items():
        mine = [i for i, t in enumerate(tasks) if t.engine == engine]
        got = link_traffic(graph, timeline)[f"link.{u}->{v}"]
        assert got.bytes == sum(tasks[i].nbytes for i in mine)
        assert got.busy_cycles == sum(timeline.end_cycles[i] - timeline.start_cycles[i]
                                      for i in mine)
        assert got.hops == len(mine)


def test_names_are_built_as_the_emitters_wrote_them() -> None:
    table = TaskTable()
    table.add("lit", "x", 0, 1, 1, 0, Category.SIMD, ())
    table.add_hop("ar.rs0.0->1", 2, "x", 0, 3, 4, -3, (0,), 64)
    table.add_on_core("qkv", 3, 2, 5, 0, Category.MATMUL, (1,), tiled=True)
    table.add_on_core("norm", 0, 1, 5, 0, Category.SIMD, (2,), tiled=False)
    graph = TaskGraph.from_table(ENGINES, table)
    assert [t.name for t in graph.tasks] == [
        "lit", hop_name("ar.rs0.0->1", 2, 0, 1, 64), "qkv@c1[3]", "norm@c0"]
    assert [graph.name(i) for i in range(4)] == [t.name for t in graph.tasks]
    assert graph.tasks[1].category is Category.COMMUNICATION and graph.tasks[1].nbytes == 64


def test_duplicate_names_and_bad_dependencies_are_refused() -> None:
    from sim.errors import GraphError

    table = TaskTable()
    table.add_hop("m", 0, "x", 0, 3, 1, 0, (), 8)
    table.add_hop("m", 0, "x", 0, 3, 1, 0, (), 8)  # same message, packet and link
    with pytest.raises(GraphError, match="duplicate task name 'm:p0:0->1:8B'"):
        TaskGraph.from_table(ENGINES, table).validate("t")
    table = TaskTable()
    table.add("a", "x", 0, 0, 1, 0, Category.SIMD, ())
    table.add("b", "x", 0, 0, 1, 0, Category.SIMD, (0, 0))
    with pytest.raises(GraphError, match="'b' lists a dependency twice"):
        TaskGraph.from_table(ENGINES, table).validate("t")
    table = TaskTable()
    table.add("a", "x", 0, 0, 1, 0, Category.SIMD, (join_ref(0),))
    with pytest.raises(GraphError, match="'a' depends on bad index"):
        TaskGraph.from_table(ENGINES, table).validate("t")


def test_a_frozen_table_takes_no_more_tasks() -> None:
    table = TaskTable()
    table.add("a", "x", 0, 0, 1, 0, Category.SIMD, ())
    columns = table.freeze()
    with pytest.raises(BufferError):
        table.add("b", "x", 0, 0, 1, 0, Category.SIMD, ())
    assert len(columns) == 1 and columns.deps(0) == ()


def test_a_graph_of_tasks_keeps_them_and_compares_by_content() -> None:
    tasks = (Task("a", "a", 0, 0, 3, 0, Category.SIMD, ()),
             Task("b", "b", 0, 1, 2, 0, Category.SIMD, (0,), 5))
    graph = TaskGraph(ENGINES, tasks)
    assert graph.tasks is tasks and len(graph) == 2
    assert graph == TaskGraph.from_table(ENGINES, TaskTable.of(tasks))
    assert graph != TaskGraph(ENGINES, tasks[:1])
