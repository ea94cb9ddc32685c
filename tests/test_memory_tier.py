"""The LPDDR tier: placement (`sim.schedule.tiers`), streams (`sim.hardware.memory_tier`,
`sim.backends.lpddr_streams`) and bytes per tier in the result."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import REPO, run_cli

from sim.config import StrategyName, load_config, parse_config
from sim.errors import CapacityError
from sim.runner import prepare, simulate_tasks

TOY = REPO / "configs/flashnorm_toy.yaml"
WEIGHT_BYTES = 512 * 512  # the toy's 512 x 512 linear in 8-bit weights
TINY = {"name": "tiny", "hidden_size": 64, "num_heads": 4, "num_kv_heads": 2, "ffn_size": 96,
        "activation": "swiglu", "norm": "rmsnorm", "num_layers": 2, "vocab_size": 10}


def _toy(*overrides: str) -> Any:
    return load_config(TOY, ["strategy=serialized", *overrides])


def _latencies(config: Any) -> tuple[int, int]:
    return tuple(simulate_tasks(config, backend=b).latency_cycles  # type: ignore[return-value]
                 for b in ("des", "analytic"))


@pytest.mark.parametrize("bytes_per_cycle", [65536, 1024])  # compute-bound, stream-bound
def test_a_streamed_linear_takes_max_of_compute_and_stream_plus_latency(bytes_per_cycle):
    # the toy: norm 8 cycles then a 16-cycle matmul (24 in all, DOMAIN.md); the stream
    # starts at 0 and its first bytes arrive at 200, after the norm: the linear's piece
    # ends at 200 + max(16, 262,144 / bytes_per_cycle)
    assert _latencies(_toy()) == (24, 24)
    streamed = _toy("machine.memory.placement=lpddr_weights",
                    f"machine.memory.lpddr.bytes_per_cycle={bytes_per_cycle}",
                    "machine.memory.lpddr.latency_cycles=200")
    expected = 200 + max(16, -(-WEIGHT_BYTES // bytes_per_cycle))
    assert _latencies(streamed) == (expected, expected)
    assert simulate_tasks(streamed).memory_bytes["lpddr_weight_bytes"] == WEIGHT_BYTES


def test_too_big_for_sram_runs_sram_first_and_fails_sram_only_in_one_line():
    tight = _toy("machine.memory.sram_bytes_per_core=1000")
    assert simulate_tasks(tight).latency_cycles > 24  # its weights streamed from LPDDR
    proc = run_cli("run", str(TOY), "--set", "machine.memory.sram_bytes_per_core=1000",
                   "--set", "machine.memory.placement=sram_only")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "sram_bytes_per_core is 1,000 B" in proc.stderr


def test_an_lpddr_too_small_is_one_line_naming_the_key_exit_2():
    proc = run_cli("run", str(TOY), "--set", "machine.memory.sram_bytes_per_core=1000",
                   "--set", "machine.memory.lpddr.bytes_per_card=1000")
    assert proc.returncode == 2, proc.stdout
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "machine.memory.lpddr.bytes_per_card" in proc.stderr and "card 0" in proc.stderr
    with pytest.raises(CapacityError, match="card 0 must hold 262,144 B"):  # the full plan
        prepare(_toy("machine.memory.placement=lpddr_weights",
                     "machine.memory.lpddr.bytes_per_card=1000"))


def _tiny(placement: str, sram: int, cores: int = 4) -> Any:
    return parse_config({
        "machine": {"clock_ghz": 1.0, "matmul": {"array_rows": 8, "array_cols": 8},
                    "simd": {"lanes": 8},
                    "hierarchy": {"cards": 1, "chiplets_per_card": 1, "cores_per_chiplet": cores},
                    "memory": {"sram_bytes_per_core": sram, "placement": placement,
                               "lpddr": {"bytes_per_cycle": 8.0, "latency_cycles": 50}}},
        "workload": {"kind": "transformer", "model": TINY, "phase": "decode", "batch": 2,
                     "kv_len": 9, "layers": 2},
        "schedule": {"cores_per_layer": cores, "linear_split": "columns"},
        "strategy": "deferred"})


def test_bytes_per_tier_are_conserved_and_more_in_lpddr_is_never_faster():
    roomy = prepare(_tiny("sram_only", 1 << 30)).plan
    total = int(roomy.stored_bytes.sum())
    assert roomy.tier_bytes["lpddr_weight_bytes"] == roomy.tier_bytes["lpddr_kv_bytes"] == 0
    latencies = []
    for placement, sram in (("sram_only", 1 << 30), ("sram_first", 15000),
                            ("sram_first", 6000), ("lpddr_weights", 1 << 30)):
        plan = prepare(_tiny(placement, sram)).plan
        assert sum(plan.tier_bytes.values()) == total  # every stored byte in one tier
        lpddr = plan.tier_bytes["lpddr_weight_bytes"] + plan.tier_bytes["lpddr_kv_bytes"]
        assert int(plan.stored_bytes.sum()) == total - lpddr  # SRAM holds the rest
        assert int(plan.stored_bytes.max()) <= sram
        latencies.append((lpddr, simulate_tasks(_tiny(placement, sram)).latency_cycles))
    assert latencies == sorted(latencies)  # more bytes in LPDDR, never faster
    assert latencies[0][0] < latencies[1][0] < latencies[2][0] < latencies[3][0]


def test_two_cores_streaming_on_one_card_wait_for_each_other():
    # the toy's linear over two cores of one card: each streams half the weights, and
    # the card's LPDDR engine takes them one after the other
    half = WEIGHT_BYTES // 2 // 256
    two = _toy("machine.hierarchy.cores_per_chiplet=2", "machine.memory.placement=lpddr_weights",
               "machine.memory.lpddr.bytes_per_cycle=256", "machine.memory.lpddr.latency_cycles=0")
    one = _toy("machine.memory.placement=lpddr_weights",
               "machine.memory.lpddr.bytes_per_cycle=512", "machine.memory.lpddr.latency_cycles=0")
    for config in (two, one):
        run = simulate_tasks(config, StrategyName.SERIALIZED)
        assert simulate_tasks(config, StrategyName.SERIALIZED, backend="analytic"
                              ).latency_cycles == run.latency_cycles
        graph, timeline = run.taskgraph, run.timeline
        streams = sorted(int(timeline.start_array[i]) for i in range(len(graph))
                         if graph.engines[int(graph.columns.engine[i])].name == "card0.lpddr")
        if config is two:
            assert streams == [0, half]  # the second waits for the first
            contended = run.latency_cycles
        else:
            assert streams == [0]
            alone = run.latency_cycles
    # the same bytes per cycle per streaming core, but two cores share one card's LPDDR
    assert contended >= 2 * half > alone
