"""Routing: the path a packet takes, computed once per (source, destination).

Rules, by the graph's ``topology`` attribute:

- ``mesh``: dimension order (XY): first along x to the destination column,
  then along y.
- ``torus`` and ``ring``: dimension order, each dimension the shorter way
  round; a tie (exactly half way) goes in the + direction.
- ``card``: XY inside the source chiplet to its gateway, the die-to-die link to
  the destination chiplet's gateway (across cards: to the card gateway, the
  card-to-card link, then to the destination chiplet's gateway), then XY to
  the destination.
- anything else: the shortest path by head latency (router plus link latency
  per hop); among equally short paths the lexicographically smallest node
  sequence.

All four are *prefix- and suffix-closed*: the route from ``a`` to ``c`` through
``b`` continues the route from ``a`` to ``b`` and ends with the route from
``b`` to ``c``. So the routes from one source form a tree (multicast) and the
routes into one destination form a tree (in-network reduction).

Examples
--------
>>> from sim.network.topology import mesh_2d
>>> router = Router(mesh_2d(4, 4))
>>> router.route(0, 10).nodes
(0, 1, 2, 6, 10)
>>> router.route(0, 10).head_latency_cycles, router.route(0, 10).hops
(8, 4)
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from heapq import heappop, heappush
from typing import Any

import networkx as nx

from sim.errors import ConfigError
from sim.network.switching import Switching, endpoint_overhead_cycles, switching_of
from sim.network.topology import core_count, validate_topology

__all__ = [
    "Edge",
    "Route",
    "Router",
    "card_path",
    "grid_path",
    "hop_latency_cycles",
    "multicast_tree",
    "next_hop_table",
    "reduction_tree",
]

#: A directed link ``(u, v)``.
Edge = tuple[int, int]


def hop_latency_cycles(graph: nx.DiGraph, u: int, v: int) -> int:
    """Cycles for a packet's head to cross router ``u`` and link ``u -> v``.

    Examples
    --------
    >>> from sim.network.topology import ring
    >>> hop_latency_cycles(ring(4, latency_cycles=3, router_latency_cycles=2), 0, 1)
    5
    """
    return graph.nodes[u]["router_latency_cycles"] + graph.edges[u, v]["latency_cycles"]


@dataclass(frozen=True, slots=True)
class Route:
    """A route: its links in order, the head latency summed over them, and the
    narrowest link's width (``inf`` for the empty route of a node to itself)."""

    edges: tuple[Edge, ...]
    head_latency_cycles: int
    bottleneck_bytes_per_cycle: float

    @property
    def hops(self) -> int:
        """Number of links crossed."""
        return len(self.edges)

    @property
    def nodes(self) -> tuple[int, ...]:
        """Routers visited, source first (empty for the empty route)."""
        if not self.edges:
            return ()
        return (self.edges[0][0], *tuple(v for _, v in self.edges))


def _grid_node(pos: tuple[int, ...], dims: tuple[int, ...]) -> int:
    index, stride = 0, 1
    for coordinate, size in zip(pos, dims, strict=True):
        index += coordinate * stride
        stride *= size
    return index


def _grid_steps(src: tuple[int, ...], dst: tuple[int, ...], dims: tuple[int, ...],
                wrap: bool) -> list[tuple[int, ...]]:
    """Grid positions visited from ``src`` to ``dst`` in dimension order (src first)."""
    here = list(src)
    out = [tuple(here)]
    for dim, size in enumerate(dims):
        delta = dst[dim] - here[dim]
        if wrap:
            forward = delta % size
            backward = size - forward if forward else 0
            step, count = (1, forward) if forward <= backward else (-1, backward)
        else:
            step, count = (1 if delta > 0 else -1), abs(delta)
        for _ in range(count):
            here[dim] = (here[dim] + step) % size if wrap else here[dim] + step
            out.append(tuple(here))
    return out


def grid_path(graph: nx.DiGraph, src: int, dst: int) -> list[int]:
    """Dimension-order path on a ``mesh``, ``torus`` or ``ring`` graph (nodes, src first).

    Examples
    --------
    >>> from sim.network.topology import ring, torus_2d
    >>> grid_path(ring(8), 1, 6), grid_path(ring(8), 0, 4)
    ([1, 0, 7, 6], [0, 1, 2, 3, 4])
    >>> grid_path(torus_2d(4, 4), 0, 15)
    [0, 3, 15]
    """
    dims = tuple(graph.graph["dims"])
    wrap = graph.graph["topology"] != "mesh"
    steps = _grid_steps(graph.nodes[src]["pos"], graph.nodes[dst]["pos"], dims, wrap)
    return [_grid_node(pos, dims) for pos in steps]


def card_path(graph: nx.DiGraph, src: int, dst: int) -> list[int]:
    """The path between two cores of a ``card`` graph (see the module docstring).

    Examples
    --------
    >>> from sim.network.topology import card_hierarchy
    >>> g = card_hierarchy(chiplets_per_card=2, chiplet_width=2, chiplet_height=2)
    >>> card_path(g, 0, 4)
    [0, 1, 3, 7, 6, 4]
    """
    width, height = graph.graph["chiplet_dims"]
    per_chiplet = width * height
    per_card = graph.graph["chiplets_per_card"]
    gateways = graph.graph["chiplet_gateways"]
    card_gateways = graph.graph["card_gateways"]

    nodes = graph.nodes

    def inside(a: int, b: int) -> list[int]:
        """XY path inside one chiplet (as `_grid_steps` on the chiplet's mesh)."""
        base = a - a % per_chiplet
        (ax, ay), (bx, by) = nodes[a]["pos"], nodes[b]["pos"]
        step = 1 if bx >= ax else -1
        path = [base + x + ay * width for x in range(ax, bx + step, step)]
        step = 1 if by >= ay else -1
        path += [base + bx + y * width for y in range(ay + step, by + step, step)]
        return path

    source_chiplet, dest_chiplet = src // per_chiplet, dst // per_chiplet
    if source_chiplet == dest_chiplet:
        return inside(src, dst)
    out_gate, in_gate = gateways[source_chiplet], gateways[dest_chiplet]
    path = inside(src, out_gate)
    source_card, dest_card = source_chiplet // per_card, dest_chiplet // per_card
    if source_card != dest_card:
        for hop in (card_gateways[source_card], card_gateways[dest_card]):
            if path[-1] != hop:
                path.append(hop)
    if path[-1] != in_gate:
        path.append(in_gate)
    return path + inside(in_gate, dst)[1:]


def next_hop_table(graph: nx.DiGraph, dst: int) -> dict[int, int]:
    """For every node that reaches ``dst``, its next hop on the shortest route.

    Shortest by summed head latency; ties go to the smallest next node, which
    makes every route the lexicographically smallest shortest path.

    Examples
    --------
    >>> from sim.network.topology import ring
    >>> next_hop_table(ring(4), 2)
    {1: 2, 3: 2, 0: 1}
    """
    dist = {dst: 0}
    heap = [(0, dst)]
    settled: set[int] = set()
    while heap:
        d, v = heappop(heap)
        if v in settled:
            continue
        settled.add(v)
        for u in graph.predecessors(v):
            candidate = d + hop_latency_cycles(graph, u, v)
            if candidate < dist.get(u, math.inf):
                dist[u] = candidate
                heappush(heap, (candidate, u))
    table = {}
    for u, d in dist.items():
        if u != dst:
            table[u] = min(v for v in graph.successors(u)
                           if v in dist and dist[v] + hop_latency_cycles(graph, u, v) == d)
    return table


class Router:
    """The routes of one topology, each computed on first use and then cached.

    The graph is validated on construction (`validate_topology`) and must not
    change afterwards: the router also caches per-link head latencies
    and widths (`hop_cycles`, `link_bytes_per_cycle`), the core count
    (`core_count`), the ring ranks (`rank`) and the last few reduction and
    multicast trees (`reduction_tree`, `multicast_tree`). The graph's
    endpoint overhead and switching mode (`sim.network.switching`) are read once.

    Raises
    ------
    ConfigError
        On construction if the topology is invalid or disconnected; from
        `route` if a node is not in the graph or a structured route needs a
        link the graph lacks.
    """

    #: How many derived structures (trees, closed forms) a router remembers (most
    #: recent): enough for every collective of a whole model on a server.
    MEMO_KEPT = 32768

    def __init__(self, graph: nx.DiGraph) -> None:
        validate_topology(graph)
        self._graph = graph
        self._routes: dict[Edge, Route] = {}
        self._tables: dict[int, dict[int, int]] = {}
        self._hop_cycles: dict[Edge, int] = {}
        self._widths: dict[Edge, float] = {}
        self._cores: int | None = None
        self._ranks: dict[int, int] | None = None
        self._memo: dict[tuple[object, ...], Any] = {}
        self._route_heads: dict[Edge, tuple[int, ...]] = {}
        self._links: dict[Edge, Edge] = {}  # every link routed over -> its one tuple
        self._fastest_hop_cycles: int | None = None
        self._overhead = endpoint_overhead_cycles(graph)
        self._switching = switching_of(graph)

    @property
    def graph(self) -> nx.DiGraph:
        """The topology."""
        return self._graph

    @property
    def endpoint_overhead_cycles(self) -> int:
        """Cycles a message waits at its source before its first hop (`sim.network.switching`)."""
        return self._overhead

    @property
    def switching(self) -> Switching:
        """Cut-through or store-and-forward (`sim.network.switching`)."""
        return self._switching

    @property
    def store_and_forward(self) -> bool:
        """Whether routers forward a packet only once all of it has arrived."""
        return self._switching is Switching.STORE_AND_FORWARD

    @property
    def core_count(self) -> int:
        """Number of cores of the topology (`sim.network.topology.core_count`, cached)."""
        if self._cores is None:
            self._cores = core_count(self._graph)
        return self._cores

    def hop_cycles(self, u: int, v: int) -> int:
        """`hop_latency_cycles` of link ``u -> v``, cached per link.

        Raises ``KeyError`` if the link does not exist.
        """
        cycles = self._hop_cycles.get((u, v))
        if cycles is None:
            cycles = self._hop_cycles[u, v] = hop_latency_cycles(self._graph, u, v)
        return cycles

    def link_bytes_per_cycle(self, u: int, v: int) -> float:
        """Width of link ``u -> v`` (its ``bytes_per_cycle``), cached per link.

        Raises ``KeyError`` if the link does not exist.
        """
        width = self._widths.get((u, v))
        if width is None:
            width = self._widths[u, v] = self._graph.edges[u, v]["bytes_per_cycle"]
        return width

    def remembered(self, key: tuple[object, ...]) -> Any:
        """What `remember` stored under ``key`` (None if nothing, or forgotten).

        For derived structures of this topology (route trees, in-network trees,
        closed-form arrival cycles); keys start with the kind of structure. The
        caller must not modify the value (`reduction_tree` and `multicast_tree`
        hand out copies).
        """
        return self._memo.get(key)

    def remember(self, key: tuple[object, ...], value: Any) -> None:
        """Keep ``value`` under ``key`` (the last `MEMO_KEPT` values are kept)."""
        self._memo[key] = value
        if len(self._memo) > self.MEMO_KEPT:
            del self._memo[next(iter(self._memo))]

    def rank(self, node: int) -> int:
        """The node's ``rank`` attribute (ring order; its id if it has none), cached."""
        if self._ranks is None:
            self._ranks = {n: data["rank"] for n, data in self._graph.nodes(data=True)
                           if "rank" in data}
        return self._ranks.get(node, node)

    def _path(self, src: int, dst: int) -> list[int]:
        topology = self._graph.graph.get("topology")
        if topology in ("mesh", "torus", "ring"):
            return grid_path(self._graph, src, dst)
        if topology == "card":
            return card_path(self._graph, src, dst)
        if self._direct_is_shortest(src, dst):
            return [src, dst]
        table = self._tables.get(dst)
        if table is None:
            table = self._tables[dst] = next_hop_table(self._graph, dst)
        path = [src]
        while path[-1] != dst:
            if path[-1] not in table:
                raise ConfigError(f"no route from node {src} to node {dst}")
            path.append(table[path[-1]])
        return path

    def _direct_is_shortest(self, src: int, dst: int) -> bool:
        """Whether the link ``src -> dst`` is the unique shortest route, which is what
        `next_hop_table` would find: it exists and crosses in less than twice the
        fastest hop of the topology, and every other route has two hops at least.
        On a fully connected topology every route is then its direct link, found
        without a search per destination over all p(p-1) links (which made the
        routes of p cores cost p^3)."""
        if src == dst or not self._graph.has_edge(src, dst):
            return False
        if self._fastest_hop_cycles is None:
            router = dict(self._graph.nodes(data="router_latency_cycles"))
            self._fastest_hop_cycles = min(
                (router[u] + link for u, _, link in self._graph.edges(data="latency_cycles")),
                default=0)
        return self.hop_cycles(src, dst) < 2 * self._fastest_hop_cycles

    def route(self, src: int, dst: int) -> Route:
        """The route from ``src`` to ``dst`` (empty if they are the same node)."""
        key = (src, dst)
        cached = self._routes.get(key)
        if cached is not None:
            return cached
        for node in key:
            if node not in self._graph:
                raise ConfigError(f"node {node!r} is not in the topology")
        # one shared tuple per link (`_links`): a cached route holds pointers, not a
        # fresh (u, v) pair and its two ints per hop (most of the routes' memory)
        links = self._links
        edges = tuple(links.setdefault(edge, edge)
                      for edge in itertools.pairwise(self._path(src, dst)))
        heads = tuple(self._checked_hop_cycles(src, dst, u, v) for u, v in edges)
        widths = [self.link_bytes_per_cycle(u, v) for u, v in edges]
        route = self._routes[key] = Route(edges, sum(heads), min(widths, default=math.inf))
        self._route_heads[key] = heads
        return route

    def route_hop_cycles(self, src: int, dst: int) -> tuple[int, ...]:
        """The head latency of every hop of `route` ``(src, dst)``, in order (cached)."""
        heads = self._route_heads.get((src, dst))
        if heads is None:
            self.route(src, dst)
            heads = self._route_heads[src, dst]
        return heads

    def _checked_hop_cycles(self, src: int, dst: int, u: int, v: int) -> int:
        """`hop_cycles` of a link of the route ``src -> dst``, which must exist."""
        if (u, v) not in self._hop_cycles and not self._graph.has_edge(u, v):
            raise ConfigError(f"route {src}->{dst} needs link {u}->{v}, which the "
                              f"{self._graph.graph.get('topology')} topology lacks")
        return self.hop_cycles(u, v)


def reduction_tree(router: Router, root: int,
                   sources: tuple[int, ...] | list[int]) -> dict[int, int]:
    """The union of the routes from ``sources`` into ``root``: ``{node: next node}``.

    Keys are in first-visit order (sources in the order given, each route from
    its source).

    Examples
    --------
    >>> from sim.network.topology import mesh_2d
    >>> reduction_tree(Router(mesh_2d(3, 1)), 1, [0, 2])
    {0: 1, 2: 1}
    """
    key = ("into", root, tuple(sources))
    cached = router.remembered(key)
    if cached is not None:
        return dict(cached)
    parent: dict[int, int] = {}
    for source in sources:
        for u, v in router.route(source, root).edges:
            if parent.setdefault(u, v) != v:
                raise ConfigError(f"routes into {root} do not form a tree at node {u}")
    router.remember(key, parent)
    return dict(parent)


def multicast_tree(router: Router, src: int,
                   destinations: tuple[int, ...] | list[int]) -> dict[int, tuple[int, ...]]:
    """The union of the routes from ``src`` to ``destinations``: ``{node: children}``.

    Children are sorted; nodes without children are left out.

    Examples
    --------
    >>> from sim.network.topology import mesh_2d
    >>> multicast_tree(Router(mesh_2d(3, 2)), 0, [2, 5])
    {0: (1,), 1: (2,), 2: (5,)}
    """
    key = ("from", src, tuple(destinations))
    cached = router.remembered(key)
    if cached is not None:
        return dict(cached)
    parent: dict[int, int] = {}
    for dst in destinations:
        for u, v in router.route(src, dst).edges:
            if parent.setdefault(v, u) != u:
                raise ConfigError(f"routes from {src} do not form a tree at node {v}")
    children: dict[int, list[int]] = {}
    for v, u in parent.items():
        children.setdefault(u, []).append(v)
    tree = {u: tuple(sorted(vs)) for u, vs in sorted(children.items(), key=lambda kv: kv[0])}
    router.remember(key, tree)
    return dict(tree)
