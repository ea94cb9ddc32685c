"""The names a config chooses among: normalization strategies, collective algorithms
and topologies.

The algorithm and topology choices are the names their registries
(`sim.network.algorithms.ALGORITHMS`, `sim.network.from_config.TOPOLOGIES`) are
declared with (`sim.config.network_choices`, a module without imports, so reading a config
does not load numpy or networkx); a registry refuses to import unless it holds
exactly those names: one list each.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Literal

from sim.config.network_choices import ALGORITHM_NAMES, TOPOLOGY_NAMES

__all__ = ["CollectiveAlgorithm", "StrategyName", "TopologyName"]


class StrategyName(StrEnum):
    """Normalization strategies; `sim.schedule.strategies` implements each once."""

    SERIALIZED = "serialized"
    PIPELINED = "pipelined"
    DEFERRED = "deferred"
    IN_NETWORK = "in_network"
    STATIC = "static"
    DEFERRED_STREAMED = "deferred_streamed"


if TYPE_CHECKING:  # a type checker cannot read a literal built at import
    CollectiveAlgorithm = str
    TopologyName = str
else:
    #: Collective algorithms: the names of `sim.network.algorithms.ALGORITHMS`.
    CollectiveAlgorithm = Literal[ALGORITHM_NAMES]
    #: Topologies: the names of `sim.network.from_config.TOPOLOGIES`.
    TopologyName = Literal[TOPOLOGY_NAMES]
