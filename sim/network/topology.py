"""Topology graphs: which routers are wired to which, how wide and how slow.

A topology is a `networkx.DiGraph` that only holds data; routing and the
collectives are functions of it.

Nodes
    Cores are the integers ``0 .. N-1``; switch nodes (only `kary_tree` has them)
    are numbered from ``N`` up. Every node is a router and carries
    ``role`` (``"core"`` or ``"switch"``) and ``router_latency_cycles``. Cores
    also carry ``card`` and ``chiplet`` (global chiplet index; both 0 on flat
    topologies), ``rank`` (position in the topology's natural ring order, see
    `grid_cycle`: along the ring, a cycle of neighbours on grids, chiplet by
    chiplet on a card starting at each gateway) and, on grids, ``pos`` (grid
    coordinates, chiplet-local on a card).
Edges
    Directed links with ``bytes_per_cycle`` (a number > 0), ``latency_cycles``
    (an int >= 0) and ``kind`` in `LINK_KINDS`. A hop over link ``u -> v`` costs
    the head of a packet ``router_latency_cycles(u) + latency_cycles(u, v)``
    (at least 1 cycle, checked).
Graph attributes
    ``topology`` (``ring``, ``mesh``, ``torus``, ``tree``, ``fully_connected``,
    ``card``), ``num_cores``, ``dims`` for grids; on a card also
    ``chiplet_dims``, ``chiplets_per_card``, ``cards``, ``chiplet_gateways`` and
    ``card_gateways`` (tuples of core ids).

The card (`card_hierarchy`): each chiplet is a ``width x height`` mesh of cores
joined by ``noc`` links. One core per chiplet, the *gateway* (by default the
core at chiplet-local ``(width // 2, height // 2)``), ends a ``d2d`` link to the
gateway of every other chiplet on the same card (all-to-all). The gateway of
chiplet 0 of each card is the *card gateway* and ends a ``c2c`` link to every
other card gateway (all-to-all, as through a switch with full bisection).

Examples
--------
>>> g = mesh_2d(3, 2, bytes_per_cycle=16, latency_cycles=1)
>>> g.number_of_nodes(), g.number_of_edges()
(6, 14)
>>> g.edges[0, 1]
{'bytes_per_cycle': 16, 'latency_cycles': 1, 'kind': 'noc'}
>>> [g.nodes[n]["rank"] for n in g]
[0, 1, 2, 5, 4, 3]
>>> card = card_hierarchy(chiplets_per_card=2, chiplet_width=2, chiplet_height=2)
>>> card.graph["chiplet_gateways"], card.edges[3, 7]["kind"]
((3, 7), 'd2d')
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import networkx as nx
import numpy as np

from sim.errors import ConfigError
from sim.gcpause import paused_gc
from sim.network.graph_build import add_links, add_nodes
from sim.network.topology_check import (
    attributes_valid,
    name_disconnection,
    name_fault,
    strongly_connected,
)

__all__ = [
    "DEFAULT_C2C",
    "DEFAULT_D2D",
    "DEFAULT_NOC",
    "LINK_KINDS",
    "LinkSpec",
    "card_hierarchy",
    "core_count",
    "fully_connected",
    "grid_cycle",
    "kary_tree",
    "mesh_2d",
    "ring",
    "torus_2d",
    "validate_topology",
]

#: The kinds of link a topology may contain.
LINK_KINDS: tuple[str, ...] = ("noc", "d2d", "c2c")


def _require_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name}: must be an integer >= {minimum}, got {value!r}")
    return value


def _require_rate(name: str, value: object) -> float:
    if (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value) and value > 0):
        return value
    raise ConfigError(f"{name}: must be a number > 0, got {value!r}")


@dataclass(frozen=True)
class LinkSpec:
    """Width and latency of one kind of link.

    Parameters
    ----------
    bytes_per_cycle : float
        Bytes the link moves per cycle (one flit per cycle).
    latency_cycles : int
        Cycles for the head of a packet to cross the wire (router not included).

    Examples
    --------
    >>> LinkSpec(32, 2)
    LinkSpec(bytes_per_cycle=32, latency_cycles=2)
    >>> LinkSpec(0, 1)
    Traceback (most recent call last):
    ...
    sim.errors.ConfigError: bytes_per_cycle: must be a number > 0, got 0
    """

    bytes_per_cycle: float = 32
    latency_cycles: int = 1

    def __post_init__(self) -> None:
        _require_rate("bytes_per_cycle", self.bytes_per_cycle)
        _require_int("latency_cycles", self.latency_cycles, 0)


#: Plausible defaults for a Corsair-like card (public figures do not give them).
DEFAULT_NOC = LinkSpec(bytes_per_cycle=32, latency_cycles=1)
DEFAULT_D2D = LinkSpec(bytes_per_cycle=32, latency_cycles=8)
DEFAULT_C2C = LinkSpec(bytes_per_cycle=16, latency_cycles=64)


def _new_graph(topology: str, num_cores: int, router_latency_cycles: int,
               pos: list[tuple[int, ...]] | None = None,
               rank: list[int] | None = None) -> nx.DiGraph:
    """A graph of ``num_cores`` cores (attributes in the module docstring's order:
    ``role, router_latency_cycles, card, chiplet, rank`` and ``pos`` if given), card
    and chiplet 0, rank ``rank[core]`` (default the core's id)."""
    _require_int("router_latency_cycles", router_latency_cycles, 0)
    graph: nx.DiGraph = nx.DiGraph(topology=topology, num_cores=num_cores)
    ranks = range(num_cores) if rank is None else rank
    if pos is None:
        add_nodes(graph, ((core, {"role": "core", "router_latency_cycles": router_latency_cycles,
                                  "card": 0, "chiplet": 0, "rank": ranks[core]})
                          for core in range(num_cores)))
    else:
        add_nodes(graph, ((core, {"role": "core", "router_latency_cycles": router_latency_cycles,
                                  "card": 0, "chiplet": 0, "rank": ranks[core],
                                  "pos": pos[core]})
                          for core in range(num_cores)))
    return graph


def _links(graph: nx.DiGraph, pairs: list[tuple[int, int]], spec: LinkSpec, kind: str) -> None:
    """Links ``u -> v`` for every pair, in order (`add_links`); ``kind`` is checked
    only if there is a link to make."""
    if not pairs:
        return
    if kind not in LINK_KINDS:
        raise ConfigError(f"kind: must be one of {', '.join(LINK_KINDS)}, got {kind!r}")
    add_links(graph, pairs, {"bytes_per_cycle": spec.bytes_per_cycle,
                             "latency_cycles": spec.latency_cycles, "kind": kind})


def grid_cycle(width: int, height: int) -> list[tuple[int, int]]:
    """A ring order of the positions of a ``width x height`` grid.

    If one side is even (and the other at least 2) this is a Hamiltonian cycle
    of neighbours: along row 0, back and forth over columns ``1..width-1`` of
    the other rows, and down column 0 home (transposed if only ``width`` is
    even). Otherwise the snake order: even rows left to right, odd rows back,
    whose closing step is several hops long.

    Examples
    --------
    >>> grid_cycle(3, 2)
    [(0, 0), (1, 0), (2, 0), (2, 1), (1, 1), (0, 1)]
    >>> grid_cycle(4, 4)[:8], grid_cycle(4, 4)[-3:]
    ([(0, 0), (1, 0), (2, 0), (3, 0), (3, 1), (2, 1), (1, 1), (1, 2)], [(0, 3), (0, 2), (0, 1)])
    >>> grid_cycle(3, 3)[-3:]
    [(0, 2), (1, 2), (2, 2)]
    """
    if height % 2 == 0 and width >= 2:
        out = [(x, 0) for x in range(width)]
        for y in range(1, height):
            columns = range(width - 1, 0, -1) if y % 2 else range(1, width)
            out.extend((x, y) for x in columns)
        return out + [(0, y) for y in range(height - 1, 0, -1)]
    if width % 2 == 0 and height >= 2:
        return [(x, y) for y, x in grid_cycle(height, width)]
    return [(x if y % 2 == 0 else width - 1 - x, y) for y in range(height) for x in range(width)]


def ring(num_cores: int, *, bytes_per_cycle: float = 32, latency_cycles: int = 1,
         router_latency_cycles: int = 1, kind: str = "noc") -> nx.DiGraph:
    """A bidirectional ring of ``num_cores`` cores (a one-dimensional torus).

    Examples
    --------
    >>> sorted(ring(4).successors(0))
    [1, 3]
    """
    _require_int("num_cores", num_cores, 1)
    spec = LinkSpec(bytes_per_cycle, latency_cycles)
    graph = _new_graph("ring", num_cores, router_latency_cycles,
                       pos=[(core,) for core in range(num_cores)])
    graph.graph["dims"] = (num_cores,)
    _links(graph, [(core, other) for core in range(num_cores)
                   for other in ((core + 1) % num_cores, (core - 1) % num_cores)
                   if other != core], spec, kind)
    return graph


@paused_gc()  # one attribute dict per node and link (`sim.gcpause`)
def _grid(topology: str, width: int, height: int, wrap: bool, bytes_per_cycle: float,
          latency_cycles: int, router_latency_cycles: int, kind: str) -> nx.DiGraph:
    _require_int("width", width, 1)
    _require_int("height", height, 1)
    spec = LinkSpec(bytes_per_cycle, latency_cycles)
    rank = [0] * (width * height)
    for position, (x, y) in enumerate(grid_cycle(width, height)):
        rank[y * width + x] = position
    graph = _new_graph(topology, width * height, router_latency_cycles,
                       pos=[(x, y) for y in range(height) for x in range(width)], rank=rank)
    graph.graph["dims"] = (width, height)
    pairs = []
    for y in range(height):
        for x in range(width):
            core = y * width + x
            for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                nx_, ny = x + dx, y + dy
                if wrap:
                    nx_, ny = nx_ % width, ny % height
                elif not (0 <= nx_ < width and 0 <= ny < height):
                    continue
                other = ny * width + nx_
                if other != core:
                    pairs.append((core, other))
    _links(graph, pairs, spec, kind)
    return graph


def mesh_2d(width: int, height: int, *, bytes_per_cycle: float = 32, latency_cycles: int = 1,
            router_latency_cycles: int = 1, kind: str = "noc") -> nx.DiGraph:
    """A ``width x height`` mesh; core ``y * width + x`` sits at ``pos == (x, y)``.

    Examples
    --------
    >>> sorted(mesh_2d(3, 3).successors(4))
    [1, 3, 5, 7]
    """
    return _grid("mesh", width, height, False, bytes_per_cycle, latency_cycles,
                 router_latency_cycles, kind)


def torus_2d(width: int, height: int, *, bytes_per_cycle: float = 32, latency_cycles: int = 1,
             router_latency_cycles: int = 1, kind: str = "noc") -> nx.DiGraph:
    """A ``width x height`` torus (a mesh with wrap-around links), numbered like `mesh_2d`.

    Examples
    --------
    >>> sorted(torus_2d(4, 4).successors(0))
    [1, 3, 4, 12]
    """
    return _grid("torus", width, height, True, bytes_per_cycle, latency_cycles,
                 router_latency_cycles, kind)


def kary_tree(num_cores: int, arity: int, *, bytes_per_cycle: float = 32,
              latency_cycles: int = 1, router_latency_cycles: int = 1,
              switch_latency_cycles: int | None = None, kind: str = "noc") -> nx.DiGraph:
    """A tree of switches with the cores as leaves.

    Cores ``0 .. N-1`` are grouped ``arity`` at a time under a new switch, those
    switches ``arity`` at a time under the next level, and so on up to one root
    switch; a group of one is promoted without a switch. Switches are numbered
    from ``N`` up, level by level. Every tree edge is a pair of links.

    Examples
    --------
    >>> t = kary_tree(4, 2)
    >>> sorted(t.nodes), sorted(t.successors(4)), t.nodes[6]["role"]
    ([0, 1, 2, 3, 4, 5, 6], [0, 1, 6], 'switch')
    """
    _require_int("num_cores", num_cores, 1)
    _require_int("arity", arity, 2)
    spec = LinkSpec(bytes_per_cycle, latency_cycles)
    switch_latency = (router_latency_cycles if switch_latency_cycles is None
                      else switch_latency_cycles)
    _require_int("switch_latency_cycles", switch_latency, 0)
    graph = _new_graph("tree", num_cores, router_latency_cycles)
    level: list[int] = list(range(num_cores))
    next_node = num_cores
    while len(level) > 1:
        upper: list[int] = []
        for start in range(0, len(level), arity):
            group = level[start:start + arity]
            if len(group) == 1:
                upper.append(group[0])
                continue
            graph.add_node(next_node, role="switch", router_latency_cycles=switch_latency)
            _links(graph, [(a, b) for child in group
                           for a, b in ((child, next_node), (next_node, child))], spec, kind)
            upper.append(next_node)
            next_node += 1
        level = upper
    return graph


@paused_gc()  # one attribute dict per link (`sim.gcpause`)
def fully_connected(num_cores: int, *, bytes_per_cycle: float = 32, latency_cycles: int = 1,
                    router_latency_cycles: int = 1, kind: str = "noc") -> nx.DiGraph:
    """Every core has a link to every other core.

    Examples
    --------
    >>> fully_connected(3).number_of_edges()
    6
    """
    _require_int("num_cores", num_cores, 1)
    spec = LinkSpec(bytes_per_cycle, latency_cycles)
    graph = _new_graph("fully_connected", num_cores, router_latency_cycles)
    _links(graph, [(u, v) for u in range(num_cores) for v in range(num_cores) if u != v],
           spec, kind)
    return graph


@paused_gc()  # one attribute dict per node and link (`sim.gcpause`)
def card_hierarchy(*, chiplets_per_card: int, chiplet_width: int, chiplet_height: int,
                   cards: int = 1, noc: LinkSpec = DEFAULT_NOC, d2d: LinkSpec = DEFAULT_D2D,
                   c2c: LinkSpec = DEFAULT_C2C, router_latency_cycles: int = 1,
                   gateway: tuple[int, int] | None = None) -> nx.DiGraph:
    """Cards of chiplets of meshed cores (see the module docstring for the wiring).

    Core numbering: ``core = chiplet * cores_per_chiplet + y * chiplet_width + x``
    with global ``chiplet = card * chiplets_per_card + local_chiplet``.

    Parameters
    ----------
    chiplets_per_card, chiplet_width, chiplet_height, cards : int
        The hierarchy; a chiplet has ``chiplet_width * chiplet_height`` cores.
    noc, d2d, c2c : LinkSpec
        The three kinds of link.
    router_latency_cycles : int
        Latency of every router.
    gateway : tuple of int, optional
        Chiplet-local ``(x, y)`` of the core that ends the die-to-die and
        card-to-card links; default ``(chiplet_width // 2, chiplet_height // 2)``.

    Examples
    --------
    >>> g = card_hierarchy(cards=2, chiplets_per_card=2, chiplet_width=2, chiplet_height=1)
    >>> g.graph["card_gateways"], g.edges[1, 5]["kind"], g.nodes[5]["card"]
    ((1, 5), 'c2c', 1)
    """
    _require_int("cards", cards, 1)
    _require_int("chiplets_per_card", chiplets_per_card, 1)
    _require_int("chiplet_width", chiplet_width, 1)
    _require_int("chiplet_height", chiplet_height, 1)
    gx, gy = gateway if gateway is not None else (chiplet_width // 2, chiplet_height // 2)
    if not (0 <= gx < chiplet_width and 0 <= gy < chiplet_height):
        raise ConfigError(f"gateway: must lie inside the {chiplet_width} x {chiplet_height} "
                          f"chiplet, got {(gx, gy)}")
    _require_int("router_latency_cycles", router_latency_cycles, 0)
    width, per_card = chiplet_width, chiplets_per_card
    per_chiplet, chiplets = width * chiplet_height, cards * per_card
    positions = [(x, y) for y in range(chiplet_height) for x in range(width)]
    cycle = grid_cycle(width, chiplet_height)
    start = cycle.index((gx, gy))
    local_rank = [0] * per_chiplet  # rank inside the chiplet: its cycle from the gateway
    for rank, (x, y) in enumerate(cycle[start:] + cycle[:start]):
        local_rank[y * width + x] = rank
    graph: nx.DiGraph = nx.DiGraph(topology="card", num_cores=chiplets * per_chiplet)
    add_nodes(graph, (
        (base + p, {"role": "core", "router_latency_cycles": router_latency_cycles,
                    "card": chiplet // per_card, "chiplet": chiplet,
                    "rank": base + local_rank[p], "pos": positions[p]})
        for chiplet in range(chiplets) for base in (chiplet * per_chiplet,)
        for p in range(per_chiplet)))
    graph.graph.update(chiplet_dims=(width, chiplet_height), cards=cards,
                       chiplets_per_card=per_card)
    local: list[tuple[int, int]] = []  # one chiplet's mesh links, in order, from base 0
    for y in range(chiplet_height):
        for x in range(width):
            core = y * width + x
            if x + 1 < width:
                local += [(core, core + 1), (core + 1, core)]
            if y + 1 < chiplet_height:
                local += [(core, core + width), (core + width, core)]
    bases = np.arange(chiplets, dtype=np.int64)[:, None] * per_chiplet
    sources = (bases + np.array([u for u, _ in local], dtype=np.int64)).ravel().tolist()
    targets = (bases + np.array([v for _, v in local], dtype=np.int64)).ravel().tolist()
    _links(graph, list(zip(sources, targets, strict=True)), noc, "noc")
    gateways = tuple(c * per_chiplet + gy * width + gx for c in range(chiplets))
    card_gateways = tuple(gateways[k * per_card] for k in range(cards))
    graph.graph.update(chiplet_gateways=gateways, card_gateways=card_gateways)
    _links(graph, [(gateways[a], gateways[b]) for a in range(chiplets) for b in range(chiplets)
                   if a != b and a // per_card == b // per_card], d2d, "d2d")
    _links(graph, [(card_gateways[a], card_gateways[b]) for a in range(cards)
                   for b in range(cards) if a != b], c2c, "c2c")
    return graph


def core_count(graph: nx.DiGraph) -> int:
    """Number of cores (nodes with ``role == "core"``).

    Examples
    --------
    >>> core_count(kary_tree(4, 2))
    4
    """
    return [attrs.get("role") for attrs in graph._node.values()].count("core")  # `graph_build`


def validate_topology(graph: nx.DiGraph) -> None:
    """Reject a graph the routing and transport cannot use.

    Raises
    ------
    ConfigError
        If it is not a simple DiGraph, cores are not numbered ``0 .. N-1``, an
        attribute is missing or out of range, a hop costs less than one cycle,
        or some router cannot reach some other (a disconnected topology).

    Examples
    --------
    >>> g = ring(4)
    >>> validate_topology(g)
    >>> g.remove_edges_from([(1, 2), (3, 2)])
    >>> validate_topology(g)
    Traceback (most recent call last):
    ...
    sim.errors.ConfigError: topology is disconnected: no route from core 0 to core 2
    """
    if not isinstance(graph, nx.DiGraph) or graph.is_multigraph():
        raise ConfigError("topology: must be a networkx DiGraph")
    num_cores = core_count(graph)
    if num_cores == 0:
        raise ConfigError("topology: has no cores")
    if not attributes_valid(graph, num_cores, LINK_KINDS):
        name_fault(graph, num_cores, LINK_KINDS)
    # the attributes are valid, so the cores are the nodes 0 .. num_cores - 1
    if not strongly_connected(graph, 0):
        name_disconnection(graph, num_cores)
