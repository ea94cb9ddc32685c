"""Cost model of the SIMD (non-linear vector) unit."""

from __future__ import annotations

from sim.config import SimdConfig
from sim.hardware.cost import EngineCost
from sim.ir import SimdPattern

__all__ = ["instruction_cycles", "simd_cost"]


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def instruction_cycles(instrs: tuple[str, ...], simd: SimdConfig) -> int:
    """Sum of the per-vector cycles of ``instrs`` (names of `SimdOpCycles` fields).

    >>> from sim.config import SimdConfig
    >>> instruction_cycles(("add", "mul"), SimdConfig(lanes=8))
    2
    >>> instruction_cycles(("sqrt",), SimdConfig(lanes=8))
    Traceback (most recent call last):
    ...
    ValueError: unknown SIMD instruction 'sqrt'
    """
    table = simd.op_cycles.model_dump()
    total = 0
    for name in instrs:
        if name not in table:
            raise ValueError(f"unknown SIMD instruction {name!r}")
        total += table[name]
    return total


def simd_cost(
    pattern: SimdPattern, rows: int, cols: int, instrs: tuple[str, ...], simd: SimdConfig
) -> EngineCost:
    """Cycles for a SIMD op over a ``rows x cols`` operand, ``L = lanes``,
    ``c`` = the summed per-vector cycles of ``instrs``:

    - ``reduce``:      occupancy ``rows * ceil(cols / L) * c``, result latency
      ``reduction_tree_latency_cycles`` (the cross-lane tree is pipelined, so
      rows overlap in it and it is paid once);
    - ``elementwise``: occupancy ``rows * ceil(cols / L) * c``;
    - ``rowscalar``:   occupancy ``ceil(rows / L) * c`` (one value per row).

    Each row starts a new vector: a row of ``cols < L`` still costs a whole vector.

    Examples
    --------
    The FlashNorm toy (m = 128 lanes): the RMS of n = 512 and the normalization.

    >>> from sim.config import SimdConfig
    >>> toy = SimdConfig(lanes=128)
    >>> simd_cost(SimdPattern.REDUCE, 1, 512, ("fma",), toy)
    EngineCost(occupancy_cycles=4, result_latency_cycles=0)
    >>> simd_cost(SimdPattern.ELEMENTWISE, 2, 130, ("add", "mul"), toy)
    EngineCost(occupancy_cycles=8, result_latency_cycles=0)
    >>> simd_cost(SimdPattern.ROWSCALAR, 3, 512, ("rsqrt",), toy)
    EngineCost(occupancy_cycles=4, result_latency_cycles=0)
    """
    if rows <= 0 or cols <= 0:
        raise ValueError(f"SIMD operand must be non-empty, got {rows} x {cols}")
    per_vector = instruction_cycles(instrs, simd)
    if pattern is SimdPattern.ROWSCALAR:
        return EngineCost(_ceil_div(rows, simd.lanes) * per_vector)
    occupancy = rows * _ceil_div(cols, simd.lanes) * per_vector
    if pattern is SimdPattern.REDUCE:
        return EngineCost(occupancy, simd.reduction_tree_latency_cycles)
    return EngineCost(occupancy)
