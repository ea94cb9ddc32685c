"""The topology builders, `build_engines` and `validate_topology` as they were
before they wrote the graph in bulk (commit f2b0379), kept as the reference the
bulk construction is compared with (`test_net_bulk_build.py`). Docstrings cut;
the code is the old code, only its imports differ."""

from __future__ import annotations

from collections.abc import Sequence

import networkx as nx

from sim.errors import ConfigError
from sim.ir import Engine, EngineKind
from sim.network.topology import (
    DEFAULT_C2C,
    DEFAULT_D2D,
    DEFAULT_NOC,
    LINK_KINDS,
    LinkSpec,
    _require_int,
    core_count,
    grid_cycle,
)
from sim.network.topology_check import _count, _rate
from sim.network.topology_check import check_number as _check_number
from sim.network.transport import NetworkEngines


def _new_graph(topology: str, num_cores: int, router_latency_cycles: int) -> nx.DiGraph:
    _require_int("router_latency_cycles", router_latency_cycles, 0)
    graph: nx.DiGraph = nx.DiGraph(topology=topology, num_cores=num_cores)
    for core in range(num_cores):
        graph.add_node(core, role="core", router_latency_cycles=router_latency_cycles,
                       card=0, chiplet=0, rank=core)
    return graph


def _link(graph: nx.DiGraph, u: int, v: int, spec: LinkSpec, kind: str) -> None:
    if kind not in LINK_KINDS:
        raise ConfigError(f"kind: must be one of {', '.join(LINK_KINDS)}, got {kind!r}")
    graph.add_edge(u, v, bytes_per_cycle=spec.bytes_per_cycle,
                   latency_cycles=spec.latency_cycles, kind=kind)


def ring(num_cores: int, *, bytes_per_cycle: float = 32, latency_cycles: int = 1,
         router_latency_cycles: int = 1, kind: str = "noc") -> nx.DiGraph:
    _require_int("num_cores", num_cores, 1)
    spec = LinkSpec(bytes_per_cycle, latency_cycles)
    graph = _new_graph("ring", num_cores, router_latency_cycles)
    graph.graph["dims"] = (num_cores,)
    for core in range(num_cores):
        graph.nodes[core]["pos"] = (core,)
        for other in ((core + 1) % num_cores, (core - 1) % num_cores):
            if other != core:
                _link(graph, core, other, spec, kind)
    return graph


def _grid(topology: str, width: int, height: int, wrap: bool, bytes_per_cycle: float,
          latency_cycles: int, router_latency_cycles: int, kind: str) -> nx.DiGraph:
    _require_int("width", width, 1)
    _require_int("height", height, 1)
    spec = LinkSpec(bytes_per_cycle, latency_cycles)
    graph = _new_graph(topology, width * height, router_latency_cycles)
    graph.graph["dims"] = (width, height)
    for y in range(height):
        for x in range(width):
            core = y * width + x
            graph.nodes[core]["pos"] = (x, y)
            for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                nx_, ny = x + dx, y + dy
                if wrap:
                    nx_, ny = nx_ % width, ny % height
                elif not (0 <= nx_ < width and 0 <= ny < height):
                    continue
                other = ny * width + nx_
                if other != core:
                    _link(graph, core, other, spec, kind)
    for rank, (x, y) in enumerate(grid_cycle(width, height)):
        graph.nodes[y * width + x]["rank"] = rank
    return graph


def mesh_2d(width: int, height: int, *, bytes_per_cycle: float = 32, latency_cycles: int = 1,
            router_latency_cycles: int = 1, kind: str = "noc") -> nx.DiGraph:
    return _grid("mesh", width, height, False, bytes_per_cycle, latency_cycles,
                 router_latency_cycles, kind)


def torus_2d(width: int, height: int, *, bytes_per_cycle: float = 32, latency_cycles: int = 1,
             router_latency_cycles: int = 1, kind: str = "noc") -> nx.DiGraph:
    return _grid("torus", width, height, True, bytes_per_cycle, latency_cycles,
                 router_latency_cycles, kind)


def kary_tree(num_cores: int, arity: int, *, bytes_per_cycle: float = 32,
              latency_cycles: int = 1, router_latency_cycles: int = 1,
              switch_latency_cycles: int | None = None, kind: str = "noc") -> nx.DiGraph:
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
            for child in group:
                _link(graph, child, next_node, spec, kind)
                _link(graph, next_node, child, spec, kind)
            upper.append(next_node)
            next_node += 1
        level = upper
    return graph


def fully_connected(num_cores: int, *, bytes_per_cycle: float = 32, latency_cycles: int = 1,
                    router_latency_cycles: int = 1, kind: str = "noc") -> nx.DiGraph:
    _require_int("num_cores", num_cores, 1)
    spec = LinkSpec(bytes_per_cycle, latency_cycles)
    graph = _new_graph("fully_connected", num_cores, router_latency_cycles)
    for u in range(num_cores):
        for v in range(num_cores):
            if u != v:
                _link(graph, u, v, spec, kind)
    return graph


def card_hierarchy(*, chiplets_per_card: int, chiplet_width: int, chiplet_height: int,
                   cards: int = 1, noc: LinkSpec = DEFAULT_NOC, d2d: LinkSpec = DEFAULT_D2D,
                   c2c: LinkSpec = DEFAULT_C2C, router_latency_cycles: int = 1,
                   gateway: tuple[int, int] | None = None) -> nx.DiGraph:
    _require_int("cards", cards, 1)
    _require_int("chiplets_per_card", chiplets_per_card, 1)
    _require_int("chiplet_width", chiplet_width, 1)
    _require_int("chiplet_height", chiplet_height, 1)
    gx, gy = gateway if gateway is not None else (chiplet_width // 2, chiplet_height // 2)
    if not (0 <= gx < chiplet_width and 0 <= gy < chiplet_height):
        raise ConfigError(f"gateway: must lie inside the {chiplet_width} x {chiplet_height} "
                          f"chiplet, got {(gx, gy)}")
    per_chiplet = chiplet_width * chiplet_height
    chiplets = cards * chiplets_per_card
    graph = _new_graph("card", chiplets * per_chiplet, router_latency_cycles)
    graph.graph.update(chiplet_dims=(chiplet_width, chiplet_height), cards=cards,
                       chiplets_per_card=chiplets_per_card)
    for chiplet in range(chiplets):
        base = chiplet * per_chiplet
        for y in range(chiplet_height):
            for x in range(chiplet_width):
                core = base + y * chiplet_width + x
                graph.nodes[core].update(pos=(x, y), card=chiplet // chiplets_per_card,
                                         chiplet=chiplet)
                if x + 1 < chiplet_width:
                    _link(graph, core, core + 1, noc, "noc")
                    _link(graph, core + 1, core, noc, "noc")
                if y + 1 < chiplet_height:
                    _link(graph, core, core + chiplet_width, noc, "noc")
                    _link(graph, core + chiplet_width, core, noc, "noc")
    gateways = tuple(c * per_chiplet + gy * chiplet_width + gx for c in range(chiplets))
    cycle = grid_cycle(chiplet_width, chiplet_height)
    start = cycle.index((gx, gy))
    for rank, (x, y) in enumerate(cycle[start:] + cycle[:start]):
        for chiplet in range(chiplets):
            base = chiplet * per_chiplet
            graph.nodes[base + y * chiplet_width + x]["rank"] = base + rank
    card_gateways = tuple(gateways[k * chiplets_per_card] for k in range(cards))
    graph.graph.update(chiplet_gateways=gateways, card_gateways=card_gateways)
    for a in range(chiplets):
        for b in range(chiplets):
            if a != b and a // chiplets_per_card == b // chiplets_per_card:
                _link(graph, gateways[a], gateways[b], d2d, "d2d")
    for a in range(cards):
        for b in range(cards):
            if a != b:
                _link(graph, card_gateways[a], card_gateways[b], c2c, "c2c")
    return graph


def build_engines(graph: nx.DiGraph) -> NetworkEngines:
    cores = core_count(graph)
    engines: list[Engine] = []
    for core in range(cores):
        engines.append(Engine(f"core{core}.matmul", EngineKind.MATMUL, core=core))
        engines.append(Engine(f"core{core}.simd", EngineKind.SIMD, core=core))
    for core in range(cores):
        engines.append(Engine(f"core{core}.nic", EngineKind.NIC, core=core))
    links = {}
    for u, v in sorted(graph.edges):
        links[u, v] = len(engines)
        engines.append(Engine(f"link.{u}->{v}", EngineKind.LINK, core=None))
    return NetworkEngines(
        engines=tuple(engines),
        matmul=tuple(range(0, 2 * cores, 2)),
        simd=tuple(range(1, 2 * cores, 2)),
        nic=tuple(range(2 * cores, 3 * cores)),
        links=links,
    )


def attributes_valid(graph: nx.DiGraph, num_cores: int, link_kinds: Sequence[str]) -> bool:
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


def validate_topology(graph: nx.DiGraph) -> None:
    if not isinstance(graph, nx.DiGraph) or graph.is_multigraph():
        raise ConfigError("topology: must be a networkx DiGraph")
    roles = dict(graph.nodes(data="role"))
    num_cores = sum(1 for role in roles.values() if role == "core")
    if num_cores == 0:
        raise ConfigError("topology: has no cores")
    if not attributes_valid(graph, num_cores, LINK_KINDS):  # else walk to name the fault
        for node, role in roles.items():
            if role not in ("core", "switch"):
                raise ConfigError(f"topology: node {node!r} has role {role!r}, "
                                  "not 'core' or 'switch'")
            if isinstance(node, bool) or not isinstance(node, int) or node < 0:
                raise ConfigError(f"topology: node {node!r} is not a non-negative integer")
            if (role == "core") != (node < num_cores):
                raise ConfigError(f"topology: cores must be nodes 0..{num_cores - 1}, "
                                  f"node {node} is a {role}")
            _check_number(f"topology: node {node} router_latency_cycles",
                          graph.nodes[node].get("router_latency_cycles"), 0, True)
        for u, v, data in graph.edges(data=True):
            where = f"topology: link {u}->{v}"
            if u == v:
                raise ConfigError(f"{where} is a self-loop")
            _check_number(f"{where} bytes_per_cycle", data.get("bytes_per_cycle"), 0, False)
            _check_number(f"{where} latency_cycles", data.get("latency_cycles"), 0, True)
            if data.get("kind") not in LINK_KINDS:
                raise ConfigError(f"{where} kind: must be one of {', '.join(LINK_KINDS)}, "
                                  f"got {data.get('kind')!r}")
            if graph.nodes[u]["router_latency_cycles"] + data["latency_cycles"] < 1:
                raise ConfigError(f"{where}: router plus link latency must be >= 1 cycle")
    if not nx.is_strongly_connected(graph):
        reach = nx.descendants(graph, 0) | {0}
        missing = [c for c in range(num_cores) if c not in reach]
        if missing:
            raise ConfigError(f"topology is disconnected: no route from core 0 to core "
                              f"{missing[0]}")
        back = nx.ancestors(graph, 0) | {0}
        stuck = min(n for n in graph if n not in back)
        raise ConfigError(f"topology is disconnected: no route from node {stuck} to core 0")
