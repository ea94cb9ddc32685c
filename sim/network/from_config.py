"""Build the interconnect of a `MachineConfig`: its topology graph and collective options."""

from __future__ import annotations

import math
from dataclasses import dataclass

import networkx as nx

from sim.config import MachineConfig
from sim.errors import ConfigError
from sim.network.problem import CollectiveOptions
from sim.network.routing import Router
from sim.network.topology import (
    LinkSpec,
    card_hierarchy,
    fully_connected,
    kary_tree,
    mesh_2d,
    ring,
    torus_2d,
)
from sim.network.transport import NetworkEngines, build_engines

__all__ = [
    "SIMD_COMBINE_BYTES_PER_ELEMENT",
    "Interconnect",
    "build_interconnect",
    "build_topology",
    "collective_options",
    "mesh_dims",
]

#: Partial sums are combined in fp32 on the SIMD unit.
SIMD_COMBINE_BYTES_PER_ELEMENT = 4


def mesh_dims(cores: int, width: int | None, key: str) -> tuple[int, int]:
    """``(width, height)`` of a mesh of ``cores``: the given width, or the most
    square factorization (width >= height).

    >>> mesh_dims(256, None, "w"), mesh_dims(8, None, "w"), mesh_dims(12, 6, "w")
    ((16, 16), (4, 2), (6, 2))
    """
    if width is None:
        height = max(h for h in range(1, math.isqrt(cores) + 1) if cores % h == 0)
        return cores // height, height
    if cores % width:
        raise ConfigError(f"{key}: {width} does not divide {cores} cores")
    return width, cores // width


def build_topology(machine: MachineConfig) -> nx.DiGraph:
    """The topology graph of ``machine`` (see `NetworkConfig` for the choices).

    Raises
    ------
    ConfigError
        A mesh width that does not divide the core count, or a topology the
        builders reject (e.g. a torus thinner than 3).
    """
    net, tiers = machine.network, machine.hierarchy
    noc = LinkSpec(net.noc.bytes_per_cycle, net.noc.latency_cycles)
    router = net.router_latency_cycles
    if net.topology == "card":
        width, height = mesh_dims(tiers.cores_per_chiplet, net.mesh_width,
                                  "machine.network.mesh_width")
        return card_hierarchy(
            chiplets_per_card=tiers.chiplets_per_card, chiplet_width=width,
            chiplet_height=height, cards=tiers.cards, noc=noc,
            d2d=LinkSpec(net.d2d.bytes_per_cycle, net.d2d.latency_cycles),
            c2c=LinkSpec(net.c2c.bytes_per_cycle, net.c2c.latency_cycles),
            router_latency_cycles=router,
        )
    cores = tiers.total_cores
    link = {"bytes_per_cycle": noc.bytes_per_cycle, "latency_cycles": noc.latency_cycles,
            "router_latency_cycles": router}
    if net.topology in ("mesh", "torus"):
        width, height = mesh_dims(cores, net.mesh_width, "machine.network.mesh_width")
        build = mesh_2d if net.topology == "mesh" else torus_2d
        return build(width, height, **link)
    if net.topology == "ring":
        return ring(cores, **link)
    if net.topology == "tree":
        return kary_tree(cores, net.tree_arity, **link)
    return fully_connected(cores, **link)


def collective_options(machine: MachineConfig, *, reduce_op: str = "sum", root: int | None = None,
                       arity: int = 2) -> CollectiveOptions:
    """Collective parameters from the machine: a combine adds one received fp32
    vector into the local one on the SIMD unit (``lanes`` elements per ``add``)."""
    add_cycles = machine.simd.op_cycles.add
    combine = (None if add_cycles == 0
               else machine.simd.lanes * SIMD_COMBINE_BYTES_PER_ELEMENT / add_cycles)
    return CollectiveOptions(
        reduce_op=reduce_op, root=root, arity=arity, combine_bytes_per_cycle=combine,
        in_network_combine_cycles=machine.network.in_network_combine_cycles,
        max_packet_bytes=machine.network.max_packet_bytes,
    )


@dataclass(frozen=True)
class Interconnect:
    """A machine's topology with its route cache and the engines of every core and link."""

    graph: nx.DiGraph
    router: Router
    engines: NetworkEngines


def build_interconnect(machine: MachineConfig) -> Interconnect:
    """Topology, router and engines of ``machine`` (build once, share across runs)."""
    graph = build_topology(machine)
    return Interconnect(graph, Router(graph), build_engines(graph))
