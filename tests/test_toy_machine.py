"""The FlashNorm reference toy (DOMAIN.md): exactly 24, 21 and 17 cycles."""

from __future__ import annotations

import json

from conftest import run_cli

from sim.config import StrategyName, load_config
from sim.runner import simulate

EXPECTED_CYCLES = {"serialized": 24, "pipelined": 21, "deferred": 17, "in_network": 17,
                   "static": 16}


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
