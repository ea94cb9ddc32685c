"""Engine cost models against hand computations."""

from __future__ import annotations

import pytest

from sim.config import BufferConfig, MatmulEngineConfig, SimdConfig, SimdOpCycles
from sim.hardware import matmul_cost, simd_cost
from sim.ir import SimdPattern


@pytest.mark.parametrize(
    ("tokens", "k", "n", "rows", "cols", "divider", "pipe", "buf", "occupancy", "latency"),
    [
        # 512x512 on a 128x128 array: 4 x 4 tiles, one engine cycle each.
        (1, 512, 512, 128, 128, 1, 0, 0, 16, 0),
        # Corsair-like slice: 64 x 8 = 512 MACs at half clock; 4096 x 128: 64 x 16 tiles.
        (1, 4096, 128, 64, 8, 2, 0, 0, 2 * 64 * 16, 0),
        # 3 tokens, partial tiles round up: ceil(100/64)=2, ceil(10/8)=2 -> 4 tiles.
        (3, 100, 10, 64, 8, 1, 5, 2, 12, 7),
        # Pipeline latency is in engine cycles: x divider.
        (2, 64, 8, 64, 8, 4, 3, 1, 8, 13),
    ],
)
def test_matmul_cost_hand_computed(tokens, k, n, rows, cols, divider, pipe, buf, occupancy,
                                   latency):
    engine = MatmulEngineConfig(array_rows=rows, array_cols=cols, clock_divider=divider,
                                pipeline_latency_engine_cycles=pipe)
    cost = matmul_cost(tokens, k, n, engine, BufferConfig(output_buffer_latency_cycles=buf))
    assert (cost.occupancy_cycles, cost.result_latency_cycles) == (occupancy, latency)


def test_matmul_cost_rejects_empty_shape():
    with pytest.raises(ValueError, match="positive"):
        matmul_cost(0, 8, 8, MatmulEngineConfig(array_rows=4, array_cols=4), BufferConfig())


SIMD = SimdConfig(
    lanes=64,
    op_cycles=SimdOpCycles(add=1, mul=2, fma=3, max=1, exp=7, rsqrt=11, reciprocal=5),
    reduction_tree_latency_cycles=6,
)


@pytest.mark.parametrize(
    ("pattern", "rows", "cols", "instrs", "occupancy", "latency"),
    [
        # 4 rows of 4096: 64 vectors each, fma = 3 cycles; tree paid once.
        (SimdPattern.REDUCE, 4, 4096, ("fma",), 4 * 64 * 3, 6),
        # LayerNorm stats: add + fma per vector = 4 cycles; a 65-wide row needs 2 vectors.
        (SimdPattern.REDUCE, 1, 65, ("add", "fma"), 2 * 4, 6),
        (SimdPattern.ELEMENTWISE, 2, 128, ("mul",), 2 * 2 * 2, 0),
        (SimdPattern.ELEMENTWISE, 1, 1, ("exp", "add"), 8, 0),
        # One scalar per row: 100 rows = 2 vectors of 64.
        (SimdPattern.ROWSCALAR, 100, 4096, ("mul", "fma", "rsqrt"), 2 * 16, 0),
    ],
)
def test_simd_cost_hand_computed(pattern, rows, cols, instrs, occupancy, latency):
    cost = simd_cost(pattern, rows, cols, instrs, SIMD)
    assert (cost.occupancy_cycles, cost.result_latency_cycles) == (occupancy, latency)


def test_simd_cost_rejects_unknown_instruction():
    with pytest.raises(ValueError, match="unknown SIMD instruction 'tanh'"):
        simd_cost(SimdPattern.ELEMENTWISE, 1, 8, ("tanh",), SIMD)
