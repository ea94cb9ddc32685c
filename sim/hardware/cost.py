"""The value every engine cost model returns."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["EngineCost"]


@dataclass(frozen=True, slots=True)
class EngineCost:
    """Time of one engine op, in reference-clock cycles.

    Attributes
    ----------
    occupancy_cycles : int
        Cycles the engine is busy and accepts no other work.
    result_latency_cycles : int
        Further cycles before the result is visible to the next op (a pipeline
        draining, a buffer write). The engine is free meanwhile.
    """

    occupancy_cycles: int
    result_latency_cycles: int = 0

    @property
    def total_cycles(self) -> int:
        """Cycles from start until the result is visible."""
        return self.occupancy_cycles + self.result_latency_cycles
