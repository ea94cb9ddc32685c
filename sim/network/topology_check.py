"""A fast test that a topology graph's attributes are all valid.

`sim.network.topology.validate_topology` checks every node and link one by one to
name the first fault; on the generated machines (tens of thousands of cores,
hundreds of thousands of links) that walk dominates building the interconnect.
`attributes_valid` answers the same question, valid or not, over plain lists in
one pass; only when it says no does the walk run, to find and name the fault. It
accepts exactly what the walk accepts (tests/network/test_net_topology_check.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import networkx as nx

from sim.errors import ConfigError

__all__ = ["attributes_valid", "check_number"]


def _count(value: object, minimum: int) -> bool:
    """An int (not a bool) >= ``minimum``."""
    return type(value) is not bool and isinstance(value, int) and value >= minimum


def _rate(value: object) -> bool:
    """A finite number (not a bool) > 0."""
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value) and value > 0)


def check_number(where: str, value: object, minimum: int, integer: bool) -> None:
    """Raise `ConfigError` naming ``where`` unless ``value`` is an int >= ``minimum``
    (``integer``) or a finite number > 0 (not ``integer``)."""
    if integer and not _count(value, minimum):
        raise ConfigError(f"{where}: must be an integer >= {minimum}, got {value!r}")
    if not integer and not _rate(value):
        raise ConfigError(f"{where}: must be a number > 0, got {value!r}")


def attributes_valid(graph: nx.DiGraph, num_cores: int, link_kinds: Sequence[str]) -> bool:
    """Whether every node of ``graph`` is a ``core`` numbered below ``num_cores`` or a
    ``switch`` numbered from it, a non-negative int with an int
    ``router_latency_cycles`` >= 0, and every link joins two distinct nodes, has a
    rate ``bytes_per_cycle`` > 0, an int ``latency_cycles`` >= 0, a ``kind`` in
    ``link_kinds`` and a router plus link latency of at least one cycle.

    Examples
    --------
    >>> g = nx.DiGraph()
    >>> g.add_node(0, role="core", router_latency_cycles=1)
    >>> g.add_node(1, role="core", router_latency_cycles=0)
    >>> g.add_edge(0, 1, bytes_per_cycle=8, latency_cycles=0, kind="noc")
    >>> attributes_valid(g, 2, ("noc",))
    True
    >>> g.add_edge(1, 0, bytes_per_cycle=8, latency_cycles=0, kind="noc")
    >>> attributes_valid(g, 2, ("noc",))
    False
    """
    router: dict[object, object] = {}
    for node, data in graph.nodes(data=True):
        role = data.get("role")
        if not (_count(node, 0) and role in ("core", "switch")
                and (role == "core") == (node < num_cores)
                and _count(data.get("router_latency_cycles"), 0)):
            return False
        router[node] = data["router_latency_cycles"]
    kinds = tuple(link_kinds)
    for u, v, data in graph.edges(data=True):
        latency = data.get("latency_cycles")
        if not (u != v and _rate(data.get("bytes_per_cycle")) and _count(latency, 0)
                and data.get("kind") in kinds
                and router[u] + latency >= 1):
            return False
    return True
