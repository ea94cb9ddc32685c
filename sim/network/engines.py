"""The engines of a machine on a topology: one per core unit and one per directed link.

Examples
--------
>>> from sim.network.topology import ring
>>> eng = build_engines(ring(2))
>>> [e.name for e in eng.engines]
['core0.matmul', 'core0.simd', 'core1.matmul', 'core1.simd', 'core0.nic', 'core1.nic', \
'link.0->1', 'link.1->0']
>>> eng.links[1, 0], eng.simd[1]
(7, 3)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from itertools import repeat

import networkx as nx

from sim.gcpause import paused_gc
from sim.ir import Engine, EngineKind
from sim.ir.task import engines_of
from sim.network.routing import Edge
from sim.network.topology import core_count

__all__ = ["NetworkEngines", "build_engines", "sorted_links"]

@dataclass(frozen=True)
class NetworkEngines:
    """The engines of a machine on a topology, and where each one is.

    Order (deterministic): ``core{c}.matmul`` and ``core{c}.simd`` for every
    core ``c`` (indices ``2c`` and ``2c + 1``), then ``core{c}.nic`` for every
    core (the core's network interface: zero-time *eject* markers of multicast
    deliveries), then one ``link.{u}->{v}`` per directed link in sorted order.
    """

    engines: tuple[Engine, ...]
    matmul: tuple[int, ...]
    simd: tuple[int, ...]
    nic: tuple[int, ...]
    links: Mapping[Edge, int]


def sorted_links(graph: nx.DiGraph) -> list[Edge]:
    """``sorted(graph.edges)``. When every node is an ``int`` it is read node by node
    (sorted nodes, each one's sorted successors: the same order, as a sort of the
    pairs compares the tails first), without sorting all the pairs at once."""
    succ = graph._succ  # networkx's storage (see `sim.network.graph_build`)
    if not set(map(type, succ)) <= {int}:
        return sorted(graph.edges)
    return [(u, v) for u in sorted(succ) for v in sorted(succ[u])]


@paused_gc()  # hundreds of thousands of acyclic objects (`sim.gcpause`)
def build_engines(graph: nx.DiGraph) -> NetworkEngines:
    """Engines for every core and every directed link of ``graph`` (class docstring
    for the order; ``links[u, v]`` is the index of link ``u -> v``)."""
    cores = core_count(graph)
    per_core = [engines_of(kind, [f"core{core}.{kind.value}" for core in range(cores)],
                           range(cores)) for kind in (EngineKind.MATMUL, EngineKind.SIMD)]
    engines = [engine for pair in zip(*per_core, strict=True) for engine in pair]
    engines += engines_of(EngineKind.NIC, [f"core{core}.nic" for core in range(cores)],
                          range(cores))
    edges = sorted_links(graph)
    links = dict(zip(edges, range(len(engines), len(engines) + len(edges)), strict=True))
    engines += engines_of(EngineKind.LINK, [f"link.{u}->{v}" for u, v in edges],
                          repeat(None, len(edges)))
    return NetworkEngines(
        engines=tuple(engines),
        matmul=tuple(range(0, 2 * cores, 2)),
        simd=tuple(range(1, 2 * cores, 2)),
        nic=tuple(range(2 * cores, 3 * cores)),
        links=links,
    )
