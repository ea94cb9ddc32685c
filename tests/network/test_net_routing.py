"""Routing: dimension order on grids, composed routes on a card, shortest paths
elsewhere; determinism, caching, and the tree properties multicast and in-network
reduction rely on."""

from __future__ import annotations

import itertools

import networkx as nx
import pytest

from sim.errors import ConfigError
from sim.network import Router, card_hierarchy, fully_connected, kary_tree, mesh_2d, ring, torus_2d
from sim.network.routing import multicast_tree, reduction_tree

ROUTERS = {
    "ring": lambda: Router(ring(9)),
    "ring_even": lambda: Router(ring(8)),
    "mesh": lambda: Router(mesh_2d(5, 4)),
    "torus": lambda: Router(torus_2d(4, 5)),
    "tree": lambda: Router(kary_tree(9, 3)),
    "full": lambda: Router(fully_connected(5)),
    "card": lambda: Router(card_hierarchy(cards=2, chiplets_per_card=3, chiplet_width=3,
                                          chiplet_height=2)),
}


def test_mesh_routes_go_x_then_y():
    router = Router(mesh_2d(8, 8))
    assert router.route(9, 46).nodes == (9, 10, 11, 12, 13, 14, 22, 30, 38, 46)
    assert router.route(46, 9).nodes == (46, 45, 44, 43, 42, 41, 33, 25, 17, 9)
    assert router.route(5, 5).edges == ()


def test_torus_takes_the_short_way_and_breaks_ties_forward():
    router = Router(torus_2d(8, 8))
    assert router.route(0, 6).nodes == (0, 7, 6)           # -2 beats +6
    assert router.route(0, 4).nodes == (0, 1, 2, 3, 4)     # tie: + direction
    assert router.route(4, 0).nodes == (4, 5, 6, 7, 0)
    assert router.route(0, 56).nodes == (0, 56)            # y wraps


def test_card_route_crosses_gateways():
    graph = card_hierarchy(cards=2, chiplets_per_card=2, chiplet_width=2, chiplet_height=2)
    router = Router(graph)
    kinds = [graph.edges[e]["kind"] for e in router.route(0, 12).edges]
    # core 0 (card 0, chiplet 0) -> core 12 (card 1, chiplet 3): XY to gateway 3, c2c to
    # card 1's gateway 11, d2d to chiplet 3's gateway 15, XY to 12.
    assert router.route(0, 12).nodes == (0, 1, 3, 11, 15, 14, 12)
    assert kinds == ["noc", "noc", "c2c", "d2d", "noc", "noc"]


def test_tree_routes_climb_to_the_common_switch():
    router = Router(kary_tree(9, 3))
    assert router.route(0, 2).nodes == (0, 9, 2)
    assert router.route(0, 8).nodes == (0, 9, 12, 11, 8)


def test_shortest_path_prefers_lower_latency_then_smaller_nodes():
    graph = ring(6)
    graph.edges[0, 1]["latency_cycles"] = 10
    assert Router(graph).route(0, 2).nodes == (0, 1, 2)   # a ring routes by dimension order
    graph.graph["topology"] = "custom"
    router = Router(graph)
    assert router.route(0, 2).nodes == (0, 5, 4, 3, 2)     # 8 cycles beat 13
    assert router.route(0, 3).nodes == (0, 5, 4, 3)
    assert router.route(3, 0).nodes == (3, 2, 1, 0)        # tie on cost 6: smaller next node


@pytest.mark.parametrize("name", ROUTERS)
def test_routes_are_prefix_and_suffix_closed(name):
    router = ROUTERS[name]()
    nodes = list(router.graph)
    for src, dst in itertools.permutations(nodes, 2):
        path = router.route(src, dst).nodes
        for i, middle in enumerate(path[1:-1], start=1):
            assert router.route(src, middle).nodes == path[:i + 1]
            assert router.route(middle, dst).nodes == path[i:]


@pytest.mark.parametrize("name", ROUTERS)
def test_routes_are_shortest_in_hops_on_regular_topologies(name):
    router = ROUTERS[name]()
    lengths = dict(nx.all_pairs_shortest_path_length(router.graph))
    for src, dst in itertools.permutations(range(router.graph.graph["num_cores"]), 2):
        hops = router.route(src, dst).hops
        if name == "card":
            assert hops >= lengths[src][dst]
        else:
            assert hops == lengths[src][dst]


def test_routes_are_cached_and_deterministic():
    router = Router(mesh_2d(4, 4))
    assert router.route(0, 15) is router.route(0, 15)
    assert Router(mesh_2d(4, 4)).route(0, 15) == router.route(0, 15)


def test_route_metrics_use_the_narrowest_link_and_sum_head_latencies():
    graph = card_hierarchy(chiplets_per_card=2, chiplet_width=2, chiplet_height=1,
                           router_latency_cycles=2)
    graph.edges[1, 3]["bytes_per_cycle"] = 4.5
    route = Router(graph).route(0, 2)
    assert route.nodes == (0, 1, 3, 2)
    assert route.bottleneck_bytes_per_cycle == 4.5
    latency = sum(2 + graph.edges[e]["latency_cycles"] for e in route.edges)
    assert route.head_latency_cycles == latency == 3 + 10 + 3


def test_trees_of_routes():
    router = Router(mesh_2d(3, 3))
    assert reduction_tree(router, 4, [0, 2, 8]) == {0: 1, 1: 4, 2: 1, 8: 7, 7: 4}
    assert multicast_tree(router, 4, [0, 2, 8]) == {4: (3, 5), 3: (0,), 5: (2, 8)}


def test_unknown_node_and_missing_link_are_config_errors():
    router = Router(mesh_2d(3, 3))
    with pytest.raises(ConfigError, match="node 9 is not in the topology"):
        router.route(0, 9)
    graph = mesh_2d(3, 3)
    graph.remove_edge(0, 1)
    with pytest.raises(ConfigError, match="route 0->2 needs link 0->1"):
        Router(graph).route(0, 2)
