"""Topology builders: numbering, attributes, wiring; validation errors."""

from __future__ import annotations

import networkx as nx
import pytest

from sim.errors import ConfigError
from sim.network import (
    LINK_KINDS,
    LinkSpec,
    Router,
    card_hierarchy,
    core_count,
    fully_connected,
    kary_tree,
    mesh_2d,
    ring,
    torus_2d,
    validate_topology,
)

BUILDERS = {
    "ring": lambda: ring(16),
    "mesh": lambda: mesh_2d(8, 8),
    "torus": lambda: torus_2d(8, 8),
    "tree": lambda: kary_tree(16, 4),
    "full": lambda: fully_connected(8),
    "card": lambda: card_hierarchy(cards=2, chiplets_per_card=4, chiplet_width=3,
                                   chiplet_height=2),
}


@pytest.mark.parametrize("name", BUILDERS)
def test_every_builder_produces_a_valid_annotated_graph(name):
    graph = BUILDERS[name]()
    validate_topology(graph)
    cores = core_count(graph)
    assert sorted(n for n, r in graph.nodes(data="role") if r == "core") == list(range(cores))
    for _, _, data in graph.edges(data=True):
        assert data["kind"] in LINK_KINDS and data["bytes_per_cycle"] > 0
        assert isinstance(data["latency_cycles"], int)
    ranks = sorted(graph.nodes[c]["rank"] for c in range(cores))
    assert ranks == list(range(cores)), "rank is a permutation of the cores"
    assert all(graph.has_edge(v, u) for u, v in graph.edges), "links come in pairs"


@pytest.mark.parametrize(("graph", "nodes", "edges"), [
    (ring(16), 16, 32),
    (mesh_2d(8, 8), 64, 2 * 2 * 8 * 7),
    (torus_2d(8, 8), 64, 4 * 64),
    (kary_tree(16, 4), 21, 2 * 20),
    (kary_tree(5, 4), 7, 2 * 6),
    (fully_connected(8), 8, 56),
    (ring(2), 2, 2),
    (ring(1), 1, 0),
])
def test_sizes(graph, nodes, edges):
    assert (graph.number_of_nodes(), graph.number_of_edges()) == (nodes, edges)


def test_mesh_numbering_is_row_major_and_rank_is_a_cycle_of_neighbours():
    graph = mesh_2d(4, 3)
    assert graph.nodes[6]["pos"] == (2, 1)
    order = sorted(range(12), key=lambda c: graph.nodes[c]["rank"])
    assert order == [0, 4, 8, 9, 5, 6, 10, 11, 7, 3, 2, 1]
    assert all(graph.has_edge(a, b) for a, b in zip(order, order[1:] + order[:1], strict=True))
    odd = mesh_2d(3, 3)
    assert sorted(range(9), key=lambda c: odd.nodes[c]["rank"]) == [0, 1, 2, 5, 4, 3, 6, 7, 8]


def test_card_ring_order_starts_at_each_gateway_and_steps_to_neighbours():
    graph = card_hierarchy(chiplets_per_card=2, chiplet_width=4, chiplet_height=2)
    order = sorted(range(16), key=lambda c: graph.nodes[c]["rank"])
    assert order[0] == 6 and order[8] == 14
    chiplet = order[:8]
    assert all(graph.has_edge(a, b) for a, b in zip(chiplet, chiplet[1:] + chiplet[:1],
                                                     strict=True))


def test_card_wiring_gateways_and_kinds():
    graph = card_hierarchy(cards=2, chiplets_per_card=4, chiplet_width=4, chiplet_height=4,
                           noc=LinkSpec(32, 1), d2d=LinkSpec(16, 5), c2c=LinkSpec(8, 40))
    gateways = graph.graph["chiplet_gateways"]
    assert gateways == tuple(16 * c + 10 for c in range(8))
    assert graph.graph["card_gateways"] == (gateways[0], gateways[4])
    kinds = {}
    for u, v, kind in graph.edges(data="kind"):
        kinds.setdefault(kind, set()).add((u, v))
    assert kinds["d2d"] == {(gateways[a], gateways[b]) for a in range(8) for b in range(8)
                            if a != b and a // 4 == b // 4}
    assert kinds["c2c"] == {(gateways[0], gateways[4]), (gateways[4], gateways[0])}
    assert len(kinds["noc"]) == 8 * 2 * 2 * 4 * 3
    assert graph.edges[gateways[1], gateways[2]]["latency_cycles"] == 5
    assert (graph.nodes[37]["card"], graph.nodes[37]["chiplet"], graph.nodes[37]["pos"]) \
        == (0, 2, (1, 1))


def test_tree_leaves_are_cores_and_switches_follow():
    graph = kary_tree(16, 4, switch_latency_cycles=3)
    switches = [n for n, r in graph.nodes(data="role") if r == "switch"]
    assert switches == [16, 17, 18, 19, 20]
    assert all(graph.nodes[s]["router_latency_cycles"] == 3 for s in switches)
    assert all(graph.degree(c) == 2 for c in range(16))


@pytest.mark.parametrize(("build", "message"), [
    (lambda: ring(0), "num_cores: must be an integer >= 1, got 0"),
    (lambda: mesh_2d(2, -1), "height: must be an integer >= 1, got -1"),
    (lambda: kary_tree(8, 1), "arity: must be an integer >= 2, got 1"),
    (lambda: ring(4, bytes_per_cycle=0), "bytes_per_cycle: must be a number > 0, got 0"),
    (lambda: ring(4, latency_cycles=1.5), "latency_cycles: must be an integer >= 0, got 1.5"),
    (lambda: ring(4, kind="pcie"), "kind: must be one of noc, d2d, c2c, got 'pcie'"),
    (lambda: card_hierarchy(chiplets_per_card=2, chiplet_width=2, chiplet_height=2,
                            gateway=(2, 0)), "gateway: must lie inside"),
])
def test_bad_parameters_are_config_errors(build, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build()


def test_zero_latency_hops_are_rejected():
    graph = ring(4, latency_cycles=0, router_latency_cycles=0)
    with pytest.raises(ConfigError, match="router plus link latency must be >= 1 cycle"):
        validate_topology(graph)


@pytest.mark.parametrize("cut", [
    [(1, 2), (3, 2)],                      # core 2 receives nothing
    [(2, 1), (2, 3)],                      # core 2 sends nothing
])
def test_disconnected_topology_is_a_config_error_not_a_hang(cut):
    graph = ring(4)
    graph.remove_edges_from(cut)
    with pytest.raises(ConfigError, match="topology is disconnected"):
        Router(graph)


def test_two_islands_are_disconnected():
    graph = nx.disjoint_union(mesh_2d(2, 2), mesh_2d(2, 2))
    for node in graph:
        graph.nodes[node]["role"] = "core"
    with pytest.raises(ConfigError, match="no route from core 0 to core 4"):
        validate_topology(graph)


def test_not_a_digraph_and_bad_numbering_are_rejected():
    with pytest.raises(ConfigError, match="must be a networkx DiGraph"):
        validate_topology(nx.Graph())
    graph = ring(3)
    nx.relabel_nodes(graph, {2: 7}, copy=False)
    with pytest.raises(ConfigError, match=r"cores must be nodes 0\.\.2, node 7 is a core"):
        validate_topology(graph)
