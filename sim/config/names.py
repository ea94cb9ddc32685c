"""The names a config chooses among: normalization strategies, collective algorithms
and topologies.

The algorithm and topology choices are the names of their registries
(`sim.network.algorithms.ALGORITHMS`, `sim.network.from_config.TOPOLOGIES`),
read when the config is imported: one list each.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Literal

from sim.network.algorithms import ALGORITHMS
from sim.network.from_config import TOPOLOGIES

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
    CollectiveAlgorithm = Literal[ALGORITHMS.names()]
    #: Topologies: the names of `sim.network.from_config.TOPOLOGIES`.
    TopologyName = Literal[TOPOLOGIES.names()]
