"""The interconnect: topology graphs, routing, packet transport in the DES, and
collectives as message schedules with closed-form latencies.

Modules, one idea each: `topology` (networkx builders; `graph_build` writes their
nodes and links in bulk, `topology_check` validates any graph fast), `routing`
(cached routes), `engines` (one per core unit and per link), `transport`
(messages as hop tasks), `traffic` (bytes and busy
cycles per link), `problem` (a validated collective request), `plans` (tree
shapes), `emit` (appending tasks), and the algorithms: `tree_collectives`,
`ring_collectives`, `butterfly`, `direct`, `halving_doubling`, `in_network`,
`multicast`, registered in `algorithms` (`ALGORITHMS`) behind `collectives`;
`switching` (endpoint overhead, cut-through or store-and-forward), `exactness`
(which closed forms are exact), `bounds` (the all-gather ejection bound);
`from_config` builds a machine's interconnect (its topology builders are
`from_config.TOPOLOGIES`).

Examples
--------
>>> from sim.network import Router, build_collective_graph, ring
>>> graph, result = build_collective_graph(Router(ring(8)), "broadcast", "ring", range(8), 32)
>>> result.latency_cycles
14
"""

from sim.network.algorithms import ALGORITHMS, AlgorithmSpec
from sim.network.collectives import (
    CollectiveResult,
    append_collective,
    build_collective_graph,
    collective_latency_cycles,
    tree_plan,
)
from sim.network.problem import (
    CollectiveKind,
    CollectiveOptions,
    Problem,
    ReduceOp,
    make_problem,
)
from sim.network.routing import Route, Router, hop_latency_cycles
from sim.network.topology import (
    LINK_KINDS,
    LinkSpec,
    card_hierarchy,
    core_count,
    fully_connected,
    kary_tree,
    mesh_2d,
    ring,
    torus_2d,
    validate_topology,
)
from sim.network.traffic import LinkTraffic, link_traffic, parse_hop_name, queueing_cycles
from sim.network.transport import (
    NetworkEngines,
    append_message,
    append_multicast,
    build_engines,
    message_latency_cycles,
    multicast_latency_cycles,
)

__all__ = [
    "ALGORITHMS",
    "LINK_KINDS",
    "AlgorithmSpec",
    "CollectiveKind",
    "CollectiveOptions",
    "CollectiveResult",
    "LinkSpec",
    "LinkTraffic",
    "NetworkEngines",
    "Problem",
    "ReduceOp",
    "Route",
    "Router",
    "append_collective",
    "append_message",
    "append_multicast",
    "build_collective_graph",
    "build_engines",
    "card_hierarchy",
    "collective_latency_cycles",
    "core_count",
    "fully_connected",
    "hop_latency_cycles",
    "kary_tree",
    "link_traffic",
    "make_problem",
    "mesh_2d",
    "message_latency_cycles",
    "multicast_latency_cycles",
    "parse_hop_name",
    "queueing_cycles",
    "ring",
    "torus_2d",
    "tree_plan",
    "validate_topology",
]
