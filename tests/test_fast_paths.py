"""The speed-ups keep their contracts: fast paths equal the slow ones, caches
hand out what was computed, and the DES leaves nothing for the collector."""

from __future__ import annotations

import gc
import itertools
from fractions import Fraction

import pytest

from sim.backends import run_des
from sim.errors import GraphError
from sim.gcpause import paused_gc
from sim.ir import Category, Engine, EngineKind, Task, TaskGraph
from sim.network.routing import (
    Router,
    _grid_node,
    _grid_steps,
    hop_latency_cycles,
    multicast_tree,
    reduction_tree,
)
from sim.network.topology import card_hierarchy, core_count, mesh_2d
from sim.network.transport import flits_for


@pytest.mark.parametrize("width", [1, 3, 32, 64, 32.0, 0.1, 2.5, 1e-3, 7.75])
def test_flits_for_equals_exact_rational(width: float) -> None:
    for nbytes in [1, 2, 31, 32, 33, 100, 4095, 4096, 10**9 + 7]:
        assert flits_for(nbytes, width) == -(-Fraction(nbytes) // Fraction(width))


def _card_path_reference(graph: object, src: int, dst: int) -> list[int]:
    """The card route as `_grid_steps` walks it (the implementation before the fast one)."""
    width, height = graph.graph["chiplet_dims"]  # type: ignore[attr-defined]
    per_chiplet, per_card = width * height, graph.graph["chiplets_per_card"]  # type: ignore[attr-defined]
    gateways, card_gateways = (graph.graph["chiplet_gateways"],  # type: ignore[attr-defined]
                               graph.graph["card_gateways"])  # type: ignore[attr-defined]

    def inside(a: int, b: int) -> list[int]:
        base = a - a % per_chiplet
        steps = _grid_steps(graph.nodes[a]["pos"], graph.nodes[b]["pos"],  # type: ignore[attr-defined]
                            (width, height), False)
        return [base + _grid_node(pos, (width, height)) for pos in steps]

    if src // per_chiplet == dst // per_chiplet:
        return inside(src, dst)
    out_gate, in_gate = gateways[src // per_chiplet], gateways[dst // per_chiplet]
    path = inside(src, out_gate)
    if src // per_chiplet // per_card != dst // per_chiplet // per_card:
        for hop in (card_gateways[src // per_chiplet // per_card],
                    card_gateways[dst // per_chiplet // per_card]):
            if path[-1] != hop:
                path.append(hop)
    if path[-1] != in_gate:
        path.append(in_gate)
    return path + inside(in_gate, dst)[1:]


def test_card_routes_follow_the_grid_walk() -> None:
    graph = card_hierarchy(cards=2, chiplets_per_card=3, chiplet_width=3, chiplet_height=2)
    router = Router(graph)
    for src, dst in itertools.product(range(core_count(graph)), repeat=2):
        if src != dst:
            assert list(router.route(src, dst).nodes) == _card_path_reference(graph, src, dst)


def test_router_caches_match_the_graph() -> None:
    graph = card_hierarchy(chiplets_per_card=2, chiplet_width=2, chiplet_height=2)
    router = Router(graph)
    assert router.core_count == core_count(graph)
    for src, dst in itertools.product(range(router.core_count), repeat=2):
        route = router.route(src, dst)
        heads = router.route_hop_cycles(src, dst)
        assert heads == tuple(hop_latency_cycles(graph, u, v) for u, v in route.edges)
        assert sum(heads) == route.head_latency_cycles
        for u, v in route.edges:
            assert router.link_bytes_per_cycle(u, v) == graph.edges[u, v]["bytes_per_cycle"]
    assert [router.rank(n) for n in range(router.core_count)] == [
        graph.nodes[n]["rank"] for n in range(router.core_count)]


def test_remembered_trees_are_copies() -> None:
    router = Router(mesh_2d(4, 4))
    first = reduction_tree(router, 5, [0, 3, 15])
    first.clear()
    assert reduction_tree(router, 5, [0, 3, 15]) == {0: 1, 1: 5, 3: 2, 2: 1, 15: 14, 14: 13,
                                                     13: 9, 9: 5}
    tree = multicast_tree(router, 0, [2, 5])
    tree[0] = ()
    assert multicast_tree(router, 0, [2, 5]) == {0: (1,), 1: (2, 5)}


def _graph(deps: tuple[int, ...] | list[int]) -> TaskGraph:
    engines = (Engine("e", EngineKind.SIMD, core=0),)
    return TaskGraph(engines, (Task("a", "a", 0, 0, 1, 0, Category.SIMD, ()),
                               Task("b", "b", 0, 0, 1, 0, Category.SIMD, deps)))  # type: ignore[arg-type]


def test_validation_is_remembered_and_a_failure_never_is() -> None:
    graph = _graph((0,))
    graph.validate("first")
    assert graph._validated is True
    graph.validate("again")  # free
    listed = _graph([0])  # the graph keeps columns copied from the tasks: immutable too
    listed.validate("listed")
    assert listed._validated is True
    with pytest.raises(AttributeError, match="cannot be changed"):
        listed.engines = ()
    bad = _graph((1,))
    for _ in range(2):  # a failure is never remembered
        with pytest.raises(GraphError, match="bad index 1"):
            bad.validate("bad")
    assert bad._validated is False


def test_des_leaves_no_cyclic_garbage_per_task() -> None:
    engines = (Engine("e", EngineKind.SIMD, core=0),)
    left = []
    for n_tasks in (2000, 20000):
        graph = TaskGraph(engines, tuple(Task(f"t{i}", "t", 0, 0, 1, 1, Category.SIMD,
                                              (i - 1,) if i else ()) for i in range(n_tasks)))
        gc.collect()
        timeline = run_des(graph)
        assert timeline.latency_cycles == 2 * n_tasks
        left.append(gc.collect())
    # SimPy's Environment is cyclic (with the run's closures and their cells): a few
    # dozen objects whatever the size; the run's per-task bookkeeping is not cyclic
    assert left[0] == left[1] < 40, left


def test_paused_gc_restores_state_on_error() -> None:
    assert gc.isenabled()
    with pytest.raises(ValueError), paused_gc():
        raise ValueError
    assert gc.isenabled()
    gc.disable()
    try:
        with paused_gc():
            pass
        assert not gc.isenabled()  # a caller's own pause stays
    finally:
        gc.enable()
