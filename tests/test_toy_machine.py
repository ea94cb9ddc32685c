"""The FlashNorm reference toy (DOMAIN.md): exactly 24, 21 and 17 cycles."""

from __future__ import annotations

import json

from conftest import run_cli

from sim.config import StrategyName, load_config
from sim.runner import simulate

EXPECTED_CYCLES = {"serialized": 24, "pipelined": 21, "deferred": 17, "in_network": 17,
                   "static": 16, "deferred_streamed": 20}


def test_compare_json_prints_the_paper_figures():
    proc = run_cli("compare", "configs/flashnorm_toy.yaml", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout)["results"]
    assert {r["strategy"]: r["latency_cycles"] for r in results} == EXPECTED_CYCLES
    deferred = next(r for r in results if r["strategy"] == "deferred")
    assert deferred["speedup_vs_serialized"] == 24 / 17


def test_each_strategy_through_the_library(repo):
    config = load_config(repo / "configs/flashnorm_toy.yaml")
    for strategy in StrategyName:
        result = simulate(config, strategy)
        assert result.latency_cycles == EXPECTED_CYCLES[strategy.value]


def test_breakdown_matches_the_paper_story(repo):
    """Serialized: 16 matmul + an 8-cycle SIMD bubble; deferred exposes 1 scale cycle."""
    config = load_config(repo / "configs/flashnorm_toy.yaml")
    serialized = simulate(config, StrategyName.SERIALIZED).breakdown
    deferred = simulate(config, StrategyName.DEFERRED).breakdown
    assert (serialized.matmul_cycles, serialized.simd_cycles) == (16, 8)
    assert (deferred.matmul_cycles, deferred.simd_cycles) == (16, 1)


def test_run_with_strategy_flag_and_table(repo):
    proc = run_cli("run", "configs/flashnorm_toy.yaml", "--strategy", "pipelined")
    assert proc.returncode == 0, proc.stderr
    assert "latency   21 cycles" in proc.stdout


def test_deferred_streamed_by_hand(repo):
    """deferred_streamed on the toy, n = 512, m = 128 (one core: nothing to gather).

    The linear reads the raw x, tiled along its input features in tiles of m =
    128 rows (the array's rows): 4 tiles of 128 x 512, each (128/m)·(512/m) = 4
    matrix cycles, back to back on the matrix unit from cycle 0 (x is the
    input, ready at 0): the output is complete at 4·4 = n²/m² = 16. Meanwhile
    the vector unit computes Σx² in n/m = 4 cycles (0..4; rsqrt free). The
    epilogue r·y needs the whole output, which only the last input tile
    completes, so it runs over all 512 outputs after cycle 16: n/m = 4 cycles,
    16..20. Total 16 + 4 = 20 (deferred: 16 + one 128-column tile = 17);
    critical path: 16 matmul + 4 SIMD.
    """
    n, m = 512, 128
    tiles, blocks_per_tile = n // m, (m // m) * (n // m)  # 4 tiles of 128 x 512: 1 x 4 blocks
    matmul_done = tiles * blocks_per_tile  # 16 = n²/m², one m x m block per cycle
    expected = matmul_done + n // m  # the epilogue over all n outputs, after the last tile
    assert expected == 20
    result = simulate(load_config(repo / "configs/flashnorm_toy.yaml"),
                      StrategyName.DEFERRED_STREAMED)
    assert result.latency_cycles == expected
    assert (result.breakdown.matmul_cycles, result.breakdown.simd_cycles) == (n * n // m**2,
                                                                              n // m)
