"""Joins (`sim.ir.taskgraph`): a fan-in through one join times exactly as the
fan-in written out edge by edge, and costs producers + consumers edges.

The independent truth is the same graph with every join expanded (each task
listing every task it waits for directly: what the emitter wrote before joins
existed); both run on the same FIFO rules and must give the same timeline, event
count, critical path and queueing, and the lowered layer far fewer edges.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from sim.backends.analytic import run_analytic
from sim.backends.critical_path import attribute_critical_path
from sim.backends.des import run_des
from sim.backends.task_emitter import emit_tasks
from sim.config import load_config
from sim.errors import GraphError
from sim.ir import Category, Engine, EngineKind, Task, TaskGraph
from sim.ir.taskgraph import join_ref
from sim.network.traffic import queueing_cycles
from sim.runner import prepare

# The o_proj<pv.scale.gather fan-in of issue 13 (every hop of the gather waits for
# every pv.scale task), scaled down from batch 64 on 2048 cores to run in seconds.
LAYER = ("configs/paper/llama3_8b_decode.yaml",
         ("workload.batch=4", "schedule.cores_per_layer=32", "schedule.linear_split=columns",
          "schedule.norm_stats=collective", "machine.memory.sram_bytes_per_core=16777216"))


def expanded(graph: TaskGraph) -> TaskGraph:
    """``graph`` without joins: every task lists the tasks it waits for."""
    tasks = tuple(replace(t, deps=graph.expanded_deps(i)) for i, t in enumerate(graph.tasks))
    return TaskGraph(graph.engines, tasks)


def edge_count(graph: TaskGraph) -> int:
    """Dependency edges: every task's deps and every join's members."""
    return sum(len(t.deps) for t in graph.tasks) + sum(len(j) for j in graph.joins)


def assert_same_run(graph: TaskGraph, run=run_des) -> None:
    """``graph`` and its expansion run to the same figures."""
    flat = expanded(graph)
    got, want = run(graph), run(flat)
    assert got == want  # start, end and ready cycles of every task, and the events
    assert attribute_critical_path(graph, got) == attribute_critical_path(flat, want)
    assert queueing_cycles(graph, got) == queueing_cycles(flat, want)


@pytest.fixture(scope="module")
def layer():
    config = load_config(LAYER[0], LAYER[1])
    prepared = prepare(config)
    return {mode: emit_tasks(prepared.plan, config.machine, prepared.interconnect, mode)
            for mode in ("hops", "closed_form")}


@pytest.mark.parametrize("mode, run", [("hops", run_des), ("closed_form", run_analytic)])
def test_layer_times_as_its_expansion(layer, mode, run):
    graph = layer[mode].taskgraph
    flat = expanded(graph)
    got, want = run(graph), run(flat)
    assert got == want
    mine, theirs = attribute_critical_path(graph, got), attribute_critical_path(flat, want)
    assert mine == theirs
    assert mine.cycles_by_op(graph) == theirs.cycles_by_op(flat)


def test_layer_fan_in_is_joined(layer):
    graph = layer["hops"].taskgraph
    assert graph.joins, "the gather's fan-in should go through a join"
    flat = expanded(graph)
    # the gather's hops each wait for all pv.scale tasks: through one join instead
    scale = {i for i, t in enumerate(graph.tasks) if t.op == "L0.pv.scale"}
    hops = [i for i, t in enumerate(graph.tasks) if t.op == "L0.o_proj<L0.pv.scale.gather"]
    direct = sum(len(scale.intersection(flat.tasks[i].deps)) for i in hops)
    assert direct >= len(scale) * 2  # a real fan-in: several hops wait for every one
    through = sum(len(scale.intersection(graph.tasks[i].deps)) for i in hops)
    assert through == 0
    assert edge_count(graph) * 3 < edge_count(flat)
    # a join is no task and no op
    assert len(graph.tasks) == len(flat.tasks)
    assert {t.op for t in graph.tasks} == {t.op for t in flat.tasks}


def _random_graph(rng: np.random.Generator, n_tasks: int, n_engines: int) -> TaskGraph:
    """A random DAG in program order, with nested joins, zero-time tasks and
    cut-through (negative) result latencies."""
    engines = tuple(Engine(f"e{k}", EngineKind.SIMD, k) for k in range(n_engines))
    tasks: list[Task] = []
    joins: list[tuple[int, ...]] = []
    for i in range(n_tasks):
        deps: list[int] = []
        if i and rng.random() < 0.8:
            deps += sorted(set(rng.integers(0, i, size=int(rng.integers(1, 4))).tolist()))
        if i > 3 and rng.random() < 0.4:  # a join of earlier tasks (and maybe a join)
            members = sorted(set(rng.integers(0, i, size=int(rng.integers(2, 6))).tolist()))
            if joins and rng.random() < 0.5:
                members.append(join_ref(int(rng.integers(0, len(joins)))))
            if len(members) > 1:
                joins.append(tuple(members))
                deps.append(join_ref(len(joins) - 1))
        duration = int(rng.choice([0, 1, 2, 5]))
        latency = int(rng.integers(-duration, 4))
        tasks.append(Task(f"t{i}", f"op{i % 3}", 0, int(rng.integers(0, n_engines)), duration,
                          latency, Category.SIMD, tuple(deps)))
    return TaskGraph(engines, tuple(tasks), tuple(joins))


@pytest.mark.parametrize("seed", range(40))
def test_random_graphs_time_as_their_expansion(seed):
    rng = np.random.default_rng(seed)
    graph = _random_graph(rng, int(rng.integers(5, 60)), int(rng.integers(1, 4)))
    graph.validate("test")
    assert_same_run(graph)
    assert_same_run(graph, run_analytic)


def _graph(deps_c, joins):
    eng = (Engine("e", EngineKind.SIMD, 0),)
    tasks = (Task("a", "a", 0, 0, 1, 0, Category.SIMD, ()),
             Task("b", "b", 0, 0, 1, 0, Category.SIMD, ()),
             Task("c", "c", 0, 0, 1, 0, Category.SIMD, deps_c))
    return TaskGraph(eng, tasks, joins)


@pytest.mark.parametrize("deps_c, joins, bad", [
    ((join_ref(1),), ((0, 1),), "bad index"),            # no join 1
    ((join_ref(0),), ((),), "no members"),                # empty join
    ((join_ref(0),), ((0, 0),), "repeated"),              # a member twice
    ((join_ref(0),), ((0, 3),), "bad one"),               # no task 3
    ((join_ref(0),), ((0, join_ref(0)),), "bad one"),     # a join in itself
    ((0, join_ref(0), 5), ((0, 1),), "bad index"),        # no task 5 next to a join
])
def test_bad_joins_are_rejected(deps_c, joins, bad):
    with pytest.raises(GraphError, match=bad):
        _graph(deps_c, joins).validate("test")


def test_join_waits_for_its_last_member():
    graph = _graph((join_ref(1),), ((0, 1), (join_ref(0), 1)))
    graph.validate("test")
    timeline = run_des(graph)
    # a and b run one after the other on the one engine; c waits for both through
    # two nested joins, no event of their own
    assert timeline.start_cycles == (0, 1, 2)
    assert timeline.events == run_des(expanded(graph)).events == 3
    assert graph.join_ready_cycles(timeline.ready_cycles) == [2, 2]
    assert graph.expanded_deps(2) == (0, 1)
