"""Single-core norm -> linear latencies against closed forms written from the model.

The formulas here are derived by hand from the cost-model definitions (README,
"Timing model"), not by calling the cost functions.
"""

from __future__ import annotations

import math

import pytest

from sim.config import StrategyName, parse_config
from sim.runner import simulate

# (tokens, n, N, R, C, divider, pipe, buffer, lanes, fma, mul, rsqrt, tree, norm)
CASES = [
    (1, 512, 512, 128, 128, 1, 0, 0, 128, 1, 1, 0, 0, "rmsnorm"),
    (1, 4096, 4096, 64, 64, 2, 3, 2, 64, 1, 1, 8, 5, "rmsnorm"),
    (4, 2048, 1024, 128, 64, 1, 6, 1, 32, 2, 1, 4, 3, "rmsnorm"),
    (2, 1024, 3072, 64, 32, 2, 2, 0, 16, 1, 2, 6, 4, "rmsnorm"),
]


def _config(case, strategy: str):
    t, n, big_n, r, c, d, pipe, buf, lanes, fma, mul, rsqrt, tree, norm = case
    return parse_config({
        "machine": {
            "clock_ghz": 1.0,
            "matmul": {"array_rows": r, "array_cols": c, "clock_divider": d,
                       "pipeline_latency_engine_cycles": pipe},
            "simd": {"lanes": lanes, "reduction_tree_latency_cycles": tree,
                     "op_cycles": {"fma": fma, "mul": mul, "rsqrt": rsqrt}},
            "buffers": {"output_buffer_latency_cycles": buf},
            "memory": {"sram_bytes_per_core": 1 << 40},
        },
        "workload": {"kind": "norm_linear", "norm": norm, "hidden_size": n,
                     "out_features": big_n, "tokens": t},
        "strategy": strategy,
        "schedule": {"max_tiles_per_op": 4096},  # tiles of exactly R rows / C columns
    })


def _parts(case):
    t, n, big_n, r, c, d, pipe, buf, lanes, fma, mul, rsqrt, tree, _ = case
    stats = t * math.ceil(n / lanes) * fma + tree
    scalar = math.ceil(t / lanes) * rsqrt
    apply = t * math.ceil(n / lanes) * mul
    matmul = d * t * math.ceil(n / r) * math.ceil(big_n / c)
    drain = d * pipe + buf
    return stats, scalar, apply, matmul, drain


@pytest.mark.parametrize("case", CASES)
def test_serialized_is_the_sum_of_its_parts(case):
    stats, scalar, apply, matmul, drain = _parts(case)
    result = simulate(_config(case, "serialized"))
    assert result.latency_cycles == stats + scalar + apply + matmul + drain


@pytest.mark.parametrize("case", CASES)
def test_pipelined_hides_all_but_the_first_chunk(case):
    t, _n, big_n, r, c, d, *_, lanes, _fma, mul, _rsqrt, _tree, _norm = case
    stats, scalar, _, matmul, drain = _parts(case)
    first_chunk = t * math.ceil(r / lanes) * mul          # normalize the first R inputs
    row_tile = d * t * math.ceil(big_n / c)               # R rows of W, all columns
    assert first_chunk <= row_tile  # premise: the SIMD keeps ahead of the matmul
    result = simulate(_config(case, "pipelined"))
    assert result.latency_cycles == stats + scalar + first_chunk + matmul + drain


@pytest.mark.parametrize("case", CASES)
def test_deferred_overlaps_the_statistics_with_the_matmul(case):
    """Output tile j (C columns) is visible at (j+1)·col_tile + drain; its scale
    starts when that tile, the scalar (at stats + scalar) and the SIMD unit are
    ready. One FIFO server fed in order finishes at max_j(r_j + sum_{i>=j} s_i)."""
    t, n, big_n, r, c, d, *_, lanes, _fma, mul, _rsqrt, _tree, _norm = case
    stats, scalar, _, matmul, drain = _parts(case)
    col_tile = d * t * math.ceil(n / r)
    widths = [min(c, big_n - j * c) for j in range(math.ceil(big_n / c))]
    scale = [t * math.ceil(w / lanes) * mul for w in widths]
    arrive = [max((j + 1) * col_tile + drain, stats + scalar) for j in range(len(widths))]
    expected = max(arrive[j] + sum(scale[j:]) for j in range(len(widths)))
    assert simulate(_config(case, "deferred")).latency_cycles == expected
    # The DOMAIN.md ideal: max(T_matmul, T_stats) + one epilogue tile, when the matmul is longer.
    if stats + scalar <= col_tile + drain:
        assert expected == matmul + drain + scale[-1]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("norm", ["rmsnorm", "layernorm"])
@pytest.mark.parametrize("bias", [False, True])
def test_strategies_never_lose_to_serialized(case, norm, bias):
    case = (*case[:-1], norm)
    latencies = {}
    for strategy in StrategyName:
        config = _config(case, strategy.value)
        config = config.model_copy(
            update={"workload": config.workload.model_copy(update={"bias": bias})}
        )
        result = simulate(config)
        b = result.breakdown
        assert b.matmul_cycles + b.simd_cycles + b.exposed_communication_cycles == (
            result.latency_cycles
        )
        latencies[strategy] = result.latency_cycles
    assert latencies[StrategyName.DEFERRED] <= latencies[StrategyName.SERIALIZED]
    assert latencies[StrategyName.PIPELINED] <= latencies[StrategyName.SERIALIZED]
    assert latencies[StrategyName.STATIC] <= latencies[StrategyName.DEFERRED]
