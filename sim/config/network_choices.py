"""The names of the collective algorithms and topologies, declared without their
implementations so that reading a config does not import numpy or networkx.

`sim.network.algorithms.ALGORITHMS` and `sim.network.from_config.TOPOLOGIES` are
declared with these tuples: registering a name not listed here, or leaving one
of them unregistered, raises `sim.registry.RegistryError` when the registry's
module is imported, so the config's choices and the implementations stay one
list (order included: `imcsim list` and error messages show registration order).
"""

from __future__ import annotations

__all__ = ["ALGORITHM_NAMES", "TOPOLOGY_NAMES"]

#: Collective algorithms, in `ALGORITHMS` registration order.
ALGORITHM_NAMES: tuple[str, ...] = (
    "direct", "tree", "ring", "recursive_doubling", "hierarchical", "in_network", "star",
    "halving_doubling", "multicast", "row_column",
)

#: Topologies, in `TOPOLOGIES` registration order.
TOPOLOGY_NAMES: tuple[str, ...] = ("card", "ring", "mesh", "torus", "tree", "fully_connected")
