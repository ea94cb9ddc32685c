"""Engine cost models: the cycles of one engine op, as pure functions of its shape."""

from sim.hardware.cost import EngineCost
from sim.hardware.matmul import matmul_cost
from sim.hardware.simd import instruction_cycles, simd_cost

__all__ = ["EngineCost", "instruction_cycles", "matmul_cost", "simd_cost"]
