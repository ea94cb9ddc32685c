"""Build the interconnect of a `MachineConfig`: its topology graph and collective options.

The topologies a config can name (``machine.network.topology``) are the entries
of `TOPOLOGIES`, each a builder ``f(machine) -> nx.DiGraph``; the config's
choices are read from it (`sim.config` imports this module, so the config is
imported here only for type checking).

Examples
--------
>>> TOPOLOGIES.names()
('card', 'ring', 'mesh', 'torus', 'tree', 'fully_connected')
>>> TOPOLOGIES.get("hypercube", key="machine.network.topology")
Traceback (most recent call last):
...
sim.errors.ConfigError: machine.network.topology: unknown topology 'hypercube' \
(choose from card, ring, mesh, torus, tree, fully_connected)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import networkx as nx

from sim.config.network_choices import TOPOLOGY_NAMES
from sim.errors import ConfigError
from sim.gcpause import paused_gc
from sim.network.problem import CollectiveOptions, ReduceOp, enum_member
from sim.network.routing import Router
from sim.network.switching import configure_transport
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
from sim.registry import Registry

if TYPE_CHECKING:
    from sim.config import MachineConfig

__all__ = [
    "SIMD_COMBINE_BYTES_PER_ELEMENT",
    "TOPOLOGIES",
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


#: Topology builders by name (``machine.network.topology``), in the config's order.
TOPOLOGIES: Registry[Callable[[MachineConfig], nx.DiGraph]] = Registry("topology", TOPOLOGY_NAMES)


@TOPOLOGIES.register("card")
def _card(machine: MachineConfig) -> nx.DiGraph:
    """Chiplet meshes on ``noc`` links, chiplets all-to-all on ``d2d``, cards on ``c2c``."""
    net, tiers = machine.network, machine.hierarchy
    width, height = mesh_dims(tiers.cores_per_chiplet, net.mesh_width,
                              "machine.network.mesh_width")
    return card_hierarchy(
        chiplets_per_card=tiers.chiplets_per_card, chiplet_width=width,
        chiplet_height=height, cards=tiers.cards,
        noc=LinkSpec(net.noc.bytes_per_cycle, net.noc.latency_cycles),
        d2d=LinkSpec(net.d2d.bytes_per_cycle, net.d2d.latency_cycles),
        c2c=LinkSpec(net.c2c.bytes_per_cycle, net.c2c.latency_cycles),
        router_latency_cycles=net.router_latency_cycles,
    )


@TOPOLOGIES.register("ring")
def _ring(machine: MachineConfig) -> nx.DiGraph:
    """Every core of the machine on one bidirectional ring of ``noc`` links."""
    net = machine.network
    return ring(machine.hierarchy.total_cores, bytes_per_cycle=net.noc.bytes_per_cycle,
                latency_cycles=net.noc.latency_cycles,
                router_latency_cycles=net.router_latency_cycles)


def _grid_builder(build: Callable[..., nx.DiGraph]) -> Callable[[MachineConfig], nx.DiGraph]:
    """A builder of ``build`` (`mesh_2d` or `torus_2d`) over every core of the machine."""

    def grid(machine: MachineConfig) -> nx.DiGraph:
        net = machine.network
        width, height = mesh_dims(machine.hierarchy.total_cores, net.mesh_width,
                                  "machine.network.mesh_width")
        return build(width, height, bytes_per_cycle=net.noc.bytes_per_cycle,
                     latency_cycles=net.noc.latency_cycles,
                     router_latency_cycles=net.router_latency_cycles)

    grid.__doc__ = f"Every core of the machine on one `{build.__name__}` of ``noc`` links."
    return grid


TOPOLOGIES.add("mesh", _grid_builder(mesh_2d))
TOPOLOGIES.add("torus", _grid_builder(torus_2d))


@TOPOLOGIES.register("tree")
def _tree(machine: MachineConfig) -> nx.DiGraph:
    """The cores as leaves of a ``tree_arity``-ary tree of switches on ``noc`` links."""
    net = machine.network
    return kary_tree(machine.hierarchy.total_cores, net.tree_arity,
                     bytes_per_cycle=net.noc.bytes_per_cycle,
                     latency_cycles=net.noc.latency_cycles,
                     router_latency_cycles=net.router_latency_cycles)


@TOPOLOGIES.register("fully_connected")
def _fully_connected(machine: MachineConfig) -> nx.DiGraph:
    """A ``noc`` link from every core to every other core."""
    net = machine.network
    return fully_connected(machine.hierarchy.total_cores,
                           bytes_per_cycle=net.noc.bytes_per_cycle,
                           latency_cycles=net.noc.latency_cycles,
                           router_latency_cycles=net.router_latency_cycles)


def build_topology(machine: MachineConfig) -> nx.DiGraph:
    """The topology graph of ``machine``: the `TOPOLOGIES` builder its
    ``network.topology`` names (see `NetworkConfig` for the choices).

    Raises
    ------
    ConfigError
        An unknown topology name, a mesh width that does not divide the core
        count, or a topology the builders reject (e.g. a torus thinner than 3).
    """
    graph = TOPOLOGIES.get(machine.network.topology, key="machine.network.topology")(machine)
    return configure_transport(graph,
                               endpoint_overhead_cycles=machine.network.endpoint_overhead_cycles,
                               switching=machine.network.switching)


def collective_options(machine: MachineConfig, *, reduce_op: str = "sum", root: int | None = None,
                       arity: int = 2) -> CollectiveOptions:
    """Collective parameters from the machine: a combine adds one received fp32
    vector into the local one on the SIMD unit (``lanes`` elements per ``add``)."""
    add_cycles = machine.simd.op_cycles.add
    combine = (None if add_cycles == 0
               else machine.simd.lanes * SIMD_COMBINE_BYTES_PER_ELEMENT / add_cycles)
    return CollectiveOptions(
        reduce_op=enum_member(ReduceOp, "reduce_op", reduce_op), root=root, arity=arity,
        combine_bytes_per_cycle=combine,
        in_network_combine_cycles=machine.network.in_network_combine_cycles,
        max_packet_bytes=machine.network.max_packet_bytes,
    )


@dataclass(frozen=True)
class Interconnect:
    """A machine's topology with its route cache and the engines of every core and link."""

    graph: nx.DiGraph
    router: Router
    engines: NetworkEngines


@paused_gc()  # hundreds of thousands of acyclic dicts, tuples and engines (`sim.gcpause`)
def build_interconnect(machine: MachineConfig) -> Interconnect:
    """Topology, router and engines of ``machine`` (build once, share across runs)."""
    graph = build_topology(machine)
    return Interconnect(graph, Router(graph), build_engines(graph))


TOPOLOGIES.check_complete()
