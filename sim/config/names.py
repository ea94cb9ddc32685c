"""The names a config chooses among: normalization strategies and collective algorithms."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

__all__ = ["CollectiveAlgorithm", "StrategyName"]


class StrategyName(StrEnum):
    """Normalization strategies; `sim.schedule.strategies` implements each once."""

    SERIALIZED = "serialized"
    PIPELINED = "pipelined"
    DEFERRED = "deferred"
    IN_NETWORK = "in_network"
    STATIC = "static"
    DEFERRED_STREAMED = "deferred_streamed"


#: Collective algorithms (implemented in `sim.network.collectives`).
CollectiveAlgorithm = Literal[
    "direct", "tree", "ring", "recursive_doubling", "hierarchical", "in_network"
]
