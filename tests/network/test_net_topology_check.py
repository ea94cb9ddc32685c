"""The fast attribute test of a topology accepts exactly what the walk of
`validate_topology` accepts, and the walk still names each fault."""

from __future__ import annotations

import math
from collections.abc import Callable

import networkx as nx
import pytest

from sim.errors import ConfigError
from sim.network.topology import LINK_KINDS, ring, validate_topology
from sim.network.topology_check import attributes_valid


def _set_node(key: str, value: object) -> Callable[[nx.DiGraph], None]:
    return lambda g: g.nodes[1].__setitem__(key, value)


def _set_link(key: str, value: object) -> Callable[[nx.DiGraph], None]:
    return lambda g: g.edges[0, 1].__setitem__(key, value)


def _zero_latency(g: nx.DiGraph) -> None:
    g.nodes[0]["router_latency_cycles"] = 0
    g.edges[0, 1]["latency_cycles"] = 0


def _relabel(g: nx.DiGraph) -> None:
    nx.relabel_nodes(g, {3: "x"}, copy=False)


def _self_loop(g: nx.DiGraph) -> None:
    g.add_edge(2, 2, **g.edges[0, 1])


def _late_core(g: nx.DiGraph) -> None:
    g.nodes[1]["role"] = "switch"


#: (mutation, still valid?): each fault the walk names, and changes it accepts
CASES: list[tuple[Callable[[nx.DiGraph], None], bool]] = [
    (lambda g: None, True),
    (_set_link("bytes_per_cycle", 0.5), True),
    (_set_link("latency_cycles", 0), True),
    (_set_node("router_latency_cycles", 0), True),
    (_zero_latency, False),
    (_set_node("router_latency_cycles", -1), False),
    (_set_node("router_latency_cycles", True), False),
    (_set_node("router_latency_cycles", 1.0), False),
    (_set_node("role", "hub"), False),
    (_late_core, False),
    (_relabel, False),
    (_self_loop, False),
    (_set_link("bytes_per_cycle", 0), False),
    (_set_link("bytes_per_cycle", math.inf), False),
    (_set_link("bytes_per_cycle", True), False),
    (_set_link("bytes_per_cycle", "8"), False),
    (_set_link("latency_cycles", -1), False),
    (_set_link("latency_cycles", 2.0), False),
    (_set_link("kind", "pcie"), False),
    (_set_link("kind", ["noc"]), False),
]


@pytest.mark.parametrize(("mutate", "valid"), CASES)
def test_fast_test_agrees_with_the_walk(mutate: Callable[[nx.DiGraph], None],
                                        valid: bool) -> None:
    graph = ring(4)
    mutate(graph)
    cores = sum(1 for _, role in graph.nodes(data="role") if role == "core")
    assert attributes_valid(graph, cores, LINK_KINDS) is valid
    if valid:
        validate_topology(graph)
    else:
        with pytest.raises(ConfigError, match="topology"):
            validate_topology(graph)
