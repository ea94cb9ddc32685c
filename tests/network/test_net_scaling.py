"""Routes that cost no more than the links they can use.

The next-hop search (`next_hop_table`) visits every link once per destination:
on a fully connected topology, p(p-1) links for each of p destinations. Where
the direct link is the unique shortest route the router takes it without the
search; the truth it must equal is the search's own route.
"""

from __future__ import annotations

import itertools

import pytest

import sim.network.routing as routing
from sim.network.routing import Router, next_hop_table
from sim.network.topology import fully_connected, kary_tree


def searched_path(graph, src: int, dst: int) -> list[int]:
    """The route by the next-hop tables alone."""
    table = next_hop_table(graph, dst)
    path = [src]
    while path[-1] != dst:
        path.append(table[path[-1]])
    return path


def _slow_direct_links():
    """Fully connected, but some direct links slower than two fast hops."""
    graph = fully_connected(5)
    graph.edges[0, 1]["latency_cycles"] = 10   # 0 -> 1 goes round through another core
    graph.edges[2, 3]["latency_cycles"] = 2    # 3 cycles: still under two hops of 2
    graph.edges[4, 0]["latency_cycles"] = 3    # 4 cycles: ties with two hops, search decides
    return graph


@pytest.mark.parametrize("graph", [fully_connected(6), fully_connected(4, latency_cycles=3),
                                   kary_tree(9, 3), _slow_direct_links()],
                         ids=["fc6", "fc4_slow_links", "tree9", "fc5_uneven"])
def test_routes_equal_the_search(graph):
    router = Router(graph)
    for src, dst in itertools.permutations(sorted(graph.nodes), 2):
        edges = router.route(src, dst).edges
        assert [src, *(v for _, v in edges)] == searched_path(graph, src, dst), (src, dst)


def test_fully_connected_routes_search_nothing(monkeypatch):
    calls = []
    monkeypatch.setattr(routing, "next_hop_table", lambda *a: calls.append(a) or {})
    p = 24
    router = Router(fully_connected(p))
    routes = [router.route(s, d) for s, d in itertools.permutations(range(p), 2)]
    assert calls == []
    assert all(len(r.edges) == 1 for r in routes)


def test_uneven_links_still_search(monkeypatch):
    calls = []
    search = routing.next_hop_table
    monkeypatch.setattr(routing, "next_hop_table", lambda *a: calls.append(a) or search(*a))
    router = Router(_slow_direct_links())
    assert [e for e in router.route(0, 1).edges] == [(0, 2), (2, 1)]
    assert router.route(2, 3).edges == ((2, 3),)   # direct, no search
    assert len(calls) == 1
