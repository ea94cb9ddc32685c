"""The DES execution rules (sim/backends/des.py docstring) on hand-built task graphs."""

from __future__ import annotations

import pytest

from sim.backends import attribute_critical_path, run_des
from sim.errors import DeadlockError, GraphError
from sim.ir import Category, Engine, EngineKind, Task, TaskGraph

MM = Engine("core0.matmul", EngineKind.MATMUL, core=0)
VEC = Engine("core0.simd", EngineKind.SIMD, core=0)
LINK = Engine("link.0->1", EngineKind.LINK, core=None)


def task(name, engine, duration, deps=(), latency=0, category=Category.SIMD):
    return Task(name, name, 0, engine, duration, latency, category, tuple(deps))


def test_independent_engines_overlap_and_fifo_serializes():
    graph = TaskGraph((MM, VEC), (
        task("a", 0, 5, category=Category.MATMUL),
        task("b", 1, 3),
        task("c", 1, 4),
    ))
    tl = run_des(graph)
    assert tl.start_cycles == (0, 0, 3)
    assert tl.latency_cycles == 7


def test_ties_go_to_program_order_whatever_order_completions_fire_in():
    # "a" (matmul) and "b" (link) both finish at cycle 2; a's completion fires
    # first and readies "high" (index 3) before b's readies "low" (index 2).
    # Dispatch waits for all completions of the cycle: the lower index starts first.
    graph = TaskGraph((MM, VEC, LINK), (
        task("a", 0, 2, category=Category.MATMUL),
        task("b", 2, 2, category=Category.COMMUNICATION),
        task("low", 1, 3, deps=(1,)),
        task("high", 1, 3, deps=(0,)),
    ))
    tl = run_des(graph)
    assert tl.start_cycles[2] == 2 and tl.start_cycles[3] == 5


def test_earlier_ready_task_beats_lower_index():
    graph = TaskGraph((MM, VEC), (
        task("m", 0, 4, category=Category.MATMUL),
        task("blocker", 1, 6),
        task("waits_for_m", 1, 1, deps=(0,)),   # ready at 4
        task("ready_at_0", 1, 1),               # ready at 0, queued behind blocker
    ))
    tl = run_des(graph)
    # ready_at_0 became ready first (cycle 0) so it runs before waits_for_m (cycle 4).
    assert tl.start_cycles[3] == 6 and tl.start_cycles[2] == 7


def test_result_latency_delays_dependents_but_frees_the_engine():
    graph = TaskGraph((MM, VEC), (
        task("m1", 0, 4, latency=3, category=Category.MATMUL),
        task("m2", 0, 4, category=Category.MATMUL),
        task("use", 1, 1, deps=(0,)),
    ))
    tl = run_des(graph)
    assert tl.start_cycles == (0, 4, 7)
    assert tl.ready_cycles == (7, 8, 8)


def test_negative_result_latency_is_cut_through():
    # Three hops of F = 8 flits, router + link = 2 cycles: H*(2) + F - 1 = 13.
    flits, per_hop = 8, 2
    links = tuple(Engine(f"link{i}", EngineKind.LINK, core=None) for i in range(3))
    hops = (
        task("h0", 0, flits, latency=per_hop - flits, category=Category.COMMUNICATION),
        task("h1", 1, flits, (0,), latency=per_hop - flits, category=Category.COMMUNICATION),
        task("h2", 2, flits, (1,), latency=per_hop - 1, category=Category.COMMUNICATION),
    )
    tl = run_des(TaskGraph(links, hops))
    assert tl.start_cycles == (0, 2, 4)
    assert tl.latency_cycles == 3 * per_hop + flits - 1


def test_zero_duration_tasks_chain_in_one_cycle():
    graph = TaskGraph((VEC,), tuple(
        task(f"z{i}", 0, 0, deps=(i - 1,) if i else ()) for i in range(5)
    ))
    tl = run_des(graph)
    assert tl.latency_cycles == 0 and tl.ready_cycles == (0,) * 5


def test_deadlock_names_the_stuck_tasks():
    graph = TaskGraph((MM, VEC), (
        task("fine", 0, 2, category=Category.MATMUL),
        task("p", 1, 1, deps=(2,)),
        task("q", 1, 1, deps=(1,)),
        task("after", 0, 1, deps=(2, 0), category=Category.MATMUL),
    ))
    with pytest.raises(DeadlockError, match=r"3 of 4 tasks can never start \(p, q, after\)") as e:
        run_des(graph)
    assert e.value.stuck_tasks == ("p", "q", "after")


def test_bad_graphs_are_rejected_before_running():
    with pytest.raises(GraphError, match="depends on bad index 7"):
        run_des(TaskGraph((VEC,), (task("a", 0, 1, deps=(7,)),)))
    with pytest.raises(GraphError, match="negative time"):
        run_des(TaskGraph((VEC,), (task("a", 0, 1, latency=-2),)))
    with pytest.raises(GraphError, match="names engine 3"):
        run_des(TaskGraph((VEC,), (task("a", 3, 1),)))


def test_critical_path_attribution_sums_to_latency():
    graph = TaskGraph((MM, VEC, LINK), (
        task("stats", 1, 4),
        task("msg", 2, 6, deps=(0,), latency=-3, category=Category.COMMUNICATION),
        task("mm", 0, 5, category=Category.MATMUL),
        task("scale", 1, 2, deps=(1, 2)),
    ))
    tl = run_des(graph)
    b = attribute_critical_path(graph, tl)
    assert tl.latency_cycles == 4 + 3 + 2
    assert (b.simd_cycles, b.exposed_communication_cycles, b.matmul_cycles) == (6, 3, 0)
    assert b.communication_cycles == 3  # in flight from 4 until visible at 7
    assert [graph.tasks[i].name for i in b.critical_path] == ["stats", "msg", "scale"]


def test_event_count_is_linear_in_tasks():
    n = 2000
    graph = TaskGraph((MM, VEC), tuple(
        task(f"t{i}", i % 2, 1 + i % 3, deps=(i - 1,) if i % 5 else ()) for i in range(n)
    ))
    tl = run_des(graph)
    assert tl.events <= 2 * n
