"""The embedding lookup on its card's LPDDR engine (`OpStep.card_lpddr`,
`sim.backends.lpddr_streams.Streams.read`): its parts queue with each other and
with the weight streams of the card.

Truth: the closed forms of one FIFO server (README, Memory tier and Whole-model
ops): a core's part of the T x d rows holds the engine ceil(T * d / P * bits/8 /
bytes_per_cycle) cycles and is complete ``latency_cycles`` later; the parts start
one after another once the token ids are in and the card's engine is free.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from sim.config import StrategyName, parse_config
from sim.results import Estimate
from sim.runner import RunResult, simulate

D, CORES, BATCH = 64, 4, 2
BYTES_PER_CYCLE, LATENCY = 4.0, 50
QKV_COLUMNS = (4 + 2 * 2) * (D // 4)  # (heads + 2 kv heads) x head size


def _config(placement: str, batch: int = BATCH) -> Any:
    return parse_config({
        "machine": {"clock_ghz": 1.0, "matmul": {"array_rows": 8, "array_cols": 8},
                    "simd": {"lanes": 8},
                    "hierarchy": {"cards": 1, "chiplets_per_card": 1, "cores_per_chiplet": CORES},
                    "memory": {"sram_bytes_per_core": 1 << 30, "placement": placement,
                               "lpddr": {"bytes_per_cycle": BYTES_PER_CYCLE,
                                         "latency_cycles": LATENCY},
                               "host": {"bytes_per_cycle": 32.0, "latency_cycles": 100}}},
        "workload": {"kind": "transformer", "whole_model": True, "batch": batch, "kv_len": 9,
                     "layers": 2,
                     "model": {"name": "tiny", "hidden_size": D, "num_heads": 4,
                               "num_kv_heads": 2, "ffn_size": 96, "activation": "swiglu",
                               "norm": "rmsnorm", "num_layers": 2, "vocab_size": 64}},
        "schedule": {"cores_per_layer": CORES, "linear_split": "columns"},
        "strategy": "serialized"})


def _reads(run: RunResult) -> list[tuple[int, int, str]]:
    """(start, visible, engine name) of every embedding part, in core order."""
    graph, timeline = run.taskgraph, run.timeline
    return [(int(timeline.start_array[i]), int(timeline.ready_array[i]),
             graph.engines[int(graph.columns.engine[i])].name)
            for i in range(len(graph)) if graph.name(i).startswith("embed.lookup@")]


@pytest.mark.parametrize("backend", ["des", "analytic"])
def test_embedding_parts_queue_on_the_card_then_behind_the_weight_streams(backend):
    part = math.ceil(BATCH * (D // CORES) / BYTES_PER_CYCLE)  # 8-bit rows, cut by columns
    alone = simulate(_config("sram_only"), StrategyName.SERIALIZED, backend=backend, tasks=True)
    reads = _reads(alone)
    assert {engine for *_, engine in reads} == {"card0.lpddr"}
    ids_in = reads[0][0]  # the first part starts as the token ids arrive
    assert ids_in > 0
    assert reads == [(ids_in + i * part, ids_in + (i + 1) * part + LATENCY, "card0.lpddr")
                     for i in range(CORES)]
    # every linear streamed: the card takes first every core's first stream (its qkv
    # columns, ready at once), the embedding's parts after them, one after another
    streamed = simulate(_config("lpddr_weights"), StrategyName.SERIALIZED, backend=backend,
                        tasks=True)
    first_streams = CORES * math.ceil(D * QKV_COLUMNS // CORES / BYTES_PER_CYCLE)
    assert first_streams > ids_in
    assert _reads(streamed) == [(first_streams + i * part,
                                 first_streams + (i + 1) * part + LATENCY, "card0.lpddr")
                                for i in range(CORES)]
    assert streamed.latency_cycles > alone.latency_cycles  # more on the card: never faster


def test_more_rows_on_the_card_are_never_faster_and_the_arrays_agree():
    latencies = []
    for batch in (1, 2, 4):
        for placement in ("sram_only", "lpddr_weights"):
            config = _config(placement, batch)
            fast = simulate(config, None, backend="analytic")
            slow = simulate(config, None, backend="analytic", tasks=True)
            assert isinstance(slow, RunResult)
            assert isinstance(fast, Estimate), f"batch {batch} {placement}: arrays declined"
            assert fast.latency_cycles == slow.latency_cycles
            assert fast.breakdown == slow.breakdown and fast.events == slow.events
            assert fast.cycles_by_op() == slow.cycles_by_op()
            latencies.append((batch, placement, fast.latency_cycles))
    for placement in ("sram_only", "lpddr_weights"):
        mine = [cycles for _, p, cycles in latencies if p == placement]
        assert mine == sorted(mine)
