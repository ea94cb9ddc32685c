"""The task estimate from the plan (`sim.backends.task_estimate`) and ``--max-tasks``.

Truth: the task emitter itself. On these symmetric machines the estimate must be
the emitted count exactly, for every collective algorithm, LPDDR streams, the
embedding read, layer messages between cards, packets and inject tasks; a refused
run must be refused before any task is emitted (the one-line CLI errors are cases of
``tests/test_hostile_cli.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sim.backends.task_emitter import emit_tasks
from sim.backends.task_estimate import BYTES_PER_TASK, estimate_tasks
from sim.config import load_config, parse_config
from sim.errors import TaskBudgetError
from sim.network.algorithms import ALGORITHMS
from sim.runner import prepare, simulate

TINY = {"name": "tiny", "hidden_size": 64, "num_heads": 4, "num_kv_heads": 2, "ffn_size": 96,
        "activation": "swiglu", "norm": "rmsnorm", "num_layers": 2, "vocab_size": 64}


def _config(*, cards: int = 1, cores: int = 8, per_layer: int = 8, schedule: Any = None,
            network: Any = None, memory: Any = None, **workload: Any) -> Any:
    return parse_config({
        "machine": {"clock_ghz": 1.0, "matmul": {"array_rows": 8, "array_cols": 8},
                    "simd": {"lanes": 8},
                    "hierarchy": {"cards": cards, "chiplets_per_card": 1,
                                  "cores_per_chiplet": cores},
                    "network": {"topology": "mesh", **(network or {})},
                    "memory": {"sram_bytes_per_core": 1 << 30, **(memory or {})}},
        "workload": {"kind": "transformer", "model": TINY, "phase": "decode", "batch": 2,
                     "kv_len": 9, "layers": 2, **workload},
        "schedule": {"cores_per_layer": per_layer, "linear_split": "columns",
                     **(schedule or {})},
        "strategy": "deferred"})


def _emitted_and_estimated(config: Any) -> tuple[int, int]:
    prepared = prepare(config)
    estimate = estimate_tasks(prepared.plan, config.machine, prepared.interconnect)
    quick = estimate_tasks(prepared.plan, config.machine, prepared.interconnect, exact=False)
    emitted = emit_tasks(prepared.plan, config.machine, prepared.interconnect, "hops")
    # the quick count decides only beyond a factor 2 from the limit: it must be within it
    assert len(emitted.taskgraph) / 2 <= quick.tasks <= 2 * len(emitted.taskgraph)
    return len(emitted.taskgraph), estimate.tasks


@pytest.mark.parametrize("algorithm", ALGORITHMS.names())
def test_estimate_is_the_emitted_count_for_every_reduction_algorithm(algorithm):
    config = _config(schedule={"reduction_algorithm": algorithm, "norm_stats": "collective"})
    emitted, estimated = _emitted_and_estimated(config)
    assert estimated == emitted


CASES = {
    # name: keys of `_config`
    "ring_gathers": {"schedule": {"gather_algorithm": "ring"}},
    "direct_gathers_two_cards": {"cards": 2, "cores": 4, "per_layer": 4,
                                 "schedule": {"gather_algorithm": "direct"}},
    "packets_and_injects": {"network": {"max_packet_bytes": 16, "endpoint_overhead_cycles": 3}},
    "lpddr_weights": {"memory": {"placement": "lpddr_weights"}},
    "whole_model_embedding": {"cards": 1, "cores": 16, "per_layer": 8, "whole_model": True,
                              "memory": {"placement": "lpddr_weights"}},
    "prefill": {"phase": "prefill", "seq_len": 6, "batch": 1},
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_estimate_is_the_emitted_count(case):
    emitted, estimated = _emitted_and_estimated(_config(**CASES[case]))
    assert estimated == emitted


@pytest.mark.parametrize("name", ["allgather_ring16", "allreduce_ring_mesh8x8",
                                  "reduce_tree_torus8x8"])
def test_estimate_of_the_bundled_collectives(repo: Path, name: str):
    emitted, estimated = _emitted_and_estimated(
        load_config(repo / "configs/collectives" / f"{name}.yaml", []))
    assert estimated == emitted


def test_memory_is_the_tasks_at_the_measured_bytes_a_task():
    prepared = prepare(_config())
    estimate = estimate_tasks(prepared.plan, prepared.config.machine, prepared.interconnect)
    assert estimate.memory_bytes == estimate.tasks * BYTES_PER_TASK
    assert estimate.tasks == sum(estimate.tasks_by_kind.values()) > 0


def test_a_run_above_the_limit_is_refused_before_emitting(monkeypatch):
    config = _config()
    emitted, _ = _emitted_and_estimated(config)

    def no_emission(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("emitted before the budget was checked")

    limited = config.model_copy(update={"limits": config.limits.model_copy(
        update={"max_tasks": emitted - 1})})
    monkeypatch.setattr("sim.runner.emit_tasks", no_emission)
    with pytest.raises(TaskBudgetError, match=rf"about {emitted:,} tasks.*limit of "
                       rf"{emitted - 1:,}.*workload\.layers=2"):
        simulate(limited, backend="des")
    monkeypatch.undo()
    at_limit = config.model_copy(update={"limits": config.limits.model_copy(
        update={"max_tasks": emitted})})
    assert simulate(at_limit, backend="des").latency_cycles > 0  # exactly the limit runs
    # the analytic arrays emit no task: no limit applies to them
    assert simulate(limited, backend="analytic").latency_cycles > 0

