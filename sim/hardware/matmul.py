"""Cost model of the in-memory (weight-stationary) matmul engine."""

from __future__ import annotations

from sim.config import BufferConfig, MatmulEngineConfig
from sim.hardware.cost import EngineCost

__all__ = ["matmul_cost"]


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def matmul_cost(
    tokens: int,
    in_features: int,
    out_features: int,
    engine: MatmulEngineConfig,
    buffers: BufferConfig,
    groups: int = 1,
) -> EngineCost:
    """Cycles for ``tokens`` vectors times an ``in_features x out_features`` matrix,
    ``groups`` times (independent operands, e.g. attention heads, run back to back).

    The weight matrix is cut into ``ceil(K/R) x ceil(N/C)`` tiles of the
    ``R x C`` array (``R = array_rows``, ``C = array_cols``); each input vector
    visits each tile once, one tile per engine cycle, and an engine cycle is
    ``d = clock_divider`` reference cycles::

        occupancy      = d * groups * tokens * ceil(K / R) * ceil(N / C)
        result latency = d * pipeline_latency_engine_cycles + output_buffer_latency_cycles

    Partial tiles cost a whole engine cycle (the array is not reconfigured).

    Examples
    --------
    The FlashNorm toy: a 128 x 128 array, one 512 x 512 vector-matrix product.

    >>> from sim.config import BufferConfig, MatmulEngineConfig
    >>> eng = MatmulEngineConfig(array_rows=128, array_cols=128)
    >>> matmul_cost(1, 512, 512, eng, BufferConfig())
    EngineCost(occupancy_cycles=16, result_latency_cycles=0)
    >>> half = MatmulEngineConfig(array_rows=64, array_cols=8, clock_divider=2,
    ...                           pipeline_latency_engine_cycles=3)
    >>> matmul_cost(2, 100, 10, half, BufferConfig(output_buffer_latency_cycles=1))
    EngineCost(occupancy_cycles=16, result_latency_cycles=7)
    """
    if min(tokens, in_features, out_features, groups) <= 0:
        shape = (tokens, in_features, out_features, groups)
        raise ValueError(f"matmul shape must be positive, got {shape}")
    tiles = _ceil_div(in_features, engine.array_rows) * _ceil_div(out_features, engine.array_cols)
    return EngineCost(
        occupancy_cycles=engine.clock_divider * groups * tokens * tiles,
        result_latency_cycles=engine.clock_divider * engine.pipeline_latency_engine_cycles
        + buffers.output_buffer_latency_cycles,
    )
