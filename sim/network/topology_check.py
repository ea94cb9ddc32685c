"""Fast tests that a topology graph is valid: its attributes, its connectivity.

`sim.network.topology.validate_topology` must reject every graph the routing and
transport cannot use; on the generated machines (tens of thousands of cores,
over a hundred thousand links) checking node by node and link by link dominated
building the interconnect. Every graph is still checked in full, user-supplied
or built here (nothing is taken on trust), but over whole columns:

- `attributes_valid`: `plainly_valid` looks at each attribute's set of types and
  set of values at once and vouches only for plain values (exact ``int``,
  ``float``, ``str``); where it cannot, the definition, `walk_valid`, decides; and
  `name_fault` walks to name the first fault. Both agree on every mutation of
  tests/network/test_net_topology_check.py and test_net_bulk_build.py.
- `strongly_connected`: breadth-first sweeps whose levels are unions of whole
  neighbour dicts (one sweep when every link has its reverse); `name_disconnection`
  names the fault.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import chain, compress, repeat
from operator import contains, eq, itemgetter

import networkx as nx

from sim.errors import ConfigError

__all__ = [
    "attributes_valid",
    "check_number",
    "name_disconnection",
    "name_fault",
    "plainly_valid",
    "strongly_connected",
    "walk_valid",
]


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

    `plainly_valid` answers first (whole columns at once); only where it cannot
    vouch for the graph does `walk_valid` decide, value by value.

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
    return plainly_valid(graph, num_cores, link_kinds) or walk_valid(graph, num_cores, link_kinds)


def walk_valid(graph: nx.DiGraph, num_cores: int, link_kinds: Sequence[str]) -> bool:
    """`attributes_valid` decided node by node and link by link (the definition)."""
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


def plainly_valid(graph: nx.DiGraph, num_cores: int, link_kinds: Sequence[str]) -> bool:
    """True only if `walk_valid` is true, decided over whole columns of values.

    It vouches only for plain values: node ids and ``router_latency_cycles`` of
    type exactly ``int``, ``bytes_per_cycle`` exactly ``int`` or ``float``,
    ``latency_cycles`` exactly ``int``, ``kind`` exactly ``str``. Each column's set
    of types and set of distinct values is checked (a set of values may merge
    ``1`` and ``1.0``, hence the types alone decide the type test). False (also on
    any missing or unhashable attribute) means only "not shown here": the walk
    then decides (bools, int subclasses, numpy scalars, faults).
    """
    nodes, succ = graph._node, graph._succ  # networkx's storage, read as `graph_build` writes
    try:
        ids = list(nodes)
        routers = list(map(itemgetter("router_latency_cycles"), nodes.values()))
        roles = list(map(itemgetter("role"), nodes.values()))
        links = list(chain.from_iterable(map(dict.values, succ.values())))
        widths = list(map(itemgetter("bytes_per_cycle"), links))
        latencies = list(map(itemgetter("latency_cycles"), links))
        kinds = set(map(itemgetter("kind"), links))
        if not (set(map(type, ids)) <= {int} and set(map(type, routers)) <= {int}
                and set(map(type, widths)) <= {int, float} and set(map(type, latencies)) <= {int}
                and {type(kind) for kind in kinds} <= {str}):
            return False
        if (ids and min(ids) < 0) or (routers and min(routers) < 0):
            return False
        if not kinds <= set(link_kinds):
            return False
        if not all(math.isfinite(width) and width > 0 for width in set(widths)):
            return False
        if latencies and min(latencies) < 0:
            return False
        if roles.count("core") != num_cores or num_cores + roles.count("switch") != len(roles):
            return False
        # distinct ids >= 0 and ``num_cores`` cores, all below ``num_cores``: the cores are
        # 0 .. num_cores - 1, so every switch is numbered from ``num_cores``
        cores = compress(ids, map(eq, roles, repeat("core")))
        if max(cores, default=-1) >= num_cores:
            return False
        if any(map(contains, succ.values(), succ)):  # a self-loop
            return False
        if latencies and min(latencies) == 0:  # a zero-latency link needs a router cycle
            slow = [node for node, cycles in zip(ids, routers, strict=True) if cycles == 0]
            if any(data["latency_cycles"] == 0 for node in slow for data in succ[node].values()):
                return False
    except (KeyError, TypeError, OverflowError):  # the walk decides (or raises as it did)
        return False
    return True


def name_fault(graph: nx.DiGraph, num_cores: int, link_kinds: Sequence[str]) -> None:
    """Raise `ConfigError` naming the first fault `walk_valid` finds (nodes in order,
    then links in order); return if there is none."""
    kinds = tuple(link_kinds)
    for node, role in graph.nodes(data="role"):
        if role not in ("core", "switch"):
            raise ConfigError(f"topology: node {node!r} has role {role!r}, "
                              "not 'core' or 'switch'")
        if isinstance(node, bool) or not isinstance(node, int) or node < 0:
            raise ConfigError(f"topology: node {node!r} is not a non-negative integer")
        if (role == "core") != (node < num_cores):
            raise ConfigError(f"topology: cores must be nodes 0..{num_cores - 1}, "
                              f"node {node} is a {role}")
        check_number(f"topology: node {node} router_latency_cycles",
                     graph.nodes[node].get("router_latency_cycles"), 0, True)
    for u, v, data in graph.edges(data=True):
        where = f"topology: link {u}->{v}"
        if u == v:
            raise ConfigError(f"{where} is a self-loop")
        check_number(f"{where} bytes_per_cycle", data.get("bytes_per_cycle"), 0, False)
        check_number(f"{where} latency_cycles", data.get("latency_cycles"), 0, True)
        if data.get("kind") not in kinds:
            raise ConfigError(f"{where} kind: must be one of {', '.join(kinds)}, "
                              f"got {data.get('kind')!r}")
        if graph.nodes[u]["router_latency_cycles"] + data["latency_cycles"] < 1:
            raise ConfigError(f"{where}: router plus link latency must be >= 1 cycle")


def _reached(adjacency: dict[object, dict[object, object]], start: object) -> set[object]:
    """Every node reachable from ``start`` over ``adjacency`` (``start`` included):
    breadth first, each level the union of its nodes' neighbour dicts at once."""
    seen = {start}
    frontier = {start}
    neighbours = adjacency.__getitem__
    while frontier:
        frontier = set().union(*map(neighbours, frontier))
        frontier -= seen
        seen |= frontier
    return seen


def strongly_connected(graph: nx.DiGraph, start: object) -> bool:
    """Whether every node of ``graph`` (which holds ``start``) is reachable from
    ``start`` and reaches it: `networkx.is_strongly_connected` for a non-empty
    graph. When every node's successors are its predecessors (every link has its
    reverse, as on every bundled topology), reaching all from ``start`` suffices."""
    succ, pred = graph._succ, graph._pred  # networkx's storage (`sim.network.graph_build`)
    if type(succ) is not dict or type(pred) is not dict:  # a view of a graph
        return bool(nx.is_strongly_connected(graph))
    count = len(succ)
    if len(_reached(succ, start)) != count:
        return False
    symmetric = all(map(eq, map(dict.keys, succ.values()),
                        map(dict.keys, map(pred.__getitem__, succ))))
    return symmetric or len(_reached(pred, start)) == count


def name_disconnection(graph: nx.DiGraph, num_cores: int) -> None:
    """Raise `ConfigError` naming a core that core 0 cannot reach (the smallest), else
    the smallest node that cannot reach core 0; return if the graph is strongly
    connected."""
    reach = nx.descendants(graph, 0) | {0}
    missing = [c for c in range(num_cores) if c not in reach]
    if missing:
        raise ConfigError(f"topology is disconnected: no route from core 0 to core "
                          f"{missing[0]}")
    back = nx.ancestors(graph, 0) | {0}
    stuck = [n for n in graph if n not in back]
    if stuck:
        raise ConfigError(f"topology is disconnected: no route from node {min(stuck)} "
                          "to core 0")
