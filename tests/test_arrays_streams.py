"""Plans that stream from LPDDR, evaluated in arrays (`sim.backends.arrays.streams`).

Truth: the task-by-task analytic run (`simulate(..., tasks=True)`), which plays
every stream out on its card's LPDDR engine (`sim.backends.lpddr_streams`) under
the FIFO rules. The arrays must give the same latency, events, task count,
breakdown (critical path task indices included) and critical cycles per op.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from test_array_lowering import _same_figures as same_figures

from sim.backends.analytic import run_analytic
from sim.backends.arrays import evaluate
from sim.backends.arrays.batches import moment
from sim.backends.arrays.streams import CardEngines
from sim.config import StrategyName, parse_config
from sim.hardware.memory_tier import stream_cycles
from sim.ir import Category, Engine, EngineKind, OpKind, Task, TaskGraph
from sim.ir.plan import Layout, LoweringPlan, OpStep
from sim.network.from_config import build_interconnect
from sim.results import Estimate
from sim.runner import RunResult, prepare, simulate

TINY = {"name": "tiny", "hidden_size": 64, "num_heads": 4, "num_kv_heads": 2, "ffn_size": 96,
        "activation": "swiglu", "norm": "rmsnorm", "num_layers": 2, "vocab_size": 64}


def _config(placement: str, sram: int, *, cards: int = 1, cores: int = 4, per_layer: int = 4,
            latency: int = 50, bytes_per_cycle: float = 8.0, **workload: Any) -> Any:
    return parse_config({
        "machine": {"clock_ghz": 1.0, "matmul": {"array_rows": 8, "array_cols": 8},
                    "simd": {"lanes": 8},
                    "hierarchy": {"cards": cards, "chiplets_per_card": 1,
                                  "cores_per_chiplet": cores},
                    "memory": {"sram_bytes_per_core": sram, "placement": placement,
                               "lpddr": {"bytes_per_cycle": bytes_per_cycle,
                                         "latency_cycles": latency}}},
        "workload": {"kind": "transformer", "model": TINY, "phase": "decode", "batch": 2,
                     "kv_len": 9, "layers": 2, **workload},
        "schedule": {"cores_per_layer": per_layer, "linear_split": "columns"},
        "strategy": "deferred"})


def _same_figures(fast: Estimate, slow: RunResult) -> None:
    same_figures(fast, slow)  # latency, events, tasks, breakdown, per-op cycles, purposes
    assert fast.memory_bytes == slow.memory_bytes


CASES = {
    # name: (placement, SRAM per core, machine and workload keys)
    "lpddr_weights": ("lpddr_weights", 1 << 30, {}),
    "sram_first_tight": ("sram_first", 6000, {}),
    "sram_first_kv": ("sram_first", 15000, {"kv_len": 200}),
    "no_latency": ("lpddr_weights", 1 << 30, {"latency": 0}),  # first bytes as it starts
    "latency_beyond_stream": ("lpddr_weights", 1 << 30, {"latency": 4000}),
    "two_groups_one_card": ("sram_first", 6000, {"cores": 4, "per_layer": 2}),
    "two_cards_one_group": ("lpddr_weights", 1 << 30, {"cards": 2, "cores": 2}),
    "a_layer_per_card": ("lpddr_weights", 1 << 30, {"cards": 2, "cores": 2, "per_layer": 2}),
    "prefill": ("lpddr_weights", 1 << 30, {"phase": "prefill", "seq_len": 6, "batch": 1}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_streamed_plans_in_arrays_give_the_task_by_task_figures(case):
    placement, sram, keys = CASES[case]
    machine_keys = {k: keys[k] for k in ("cards", "cores", "per_layer", "latency") if k in keys}
    workload = {k: v for k, v in keys.items() if k not in machine_keys}
    config = _config(placement, sram, **machine_keys, **workload)
    net = build_interconnect(config.machine)
    plan = prepare(config, interconnect=net).plan
    assert any(getattr(step, "lpddr_bytes", ()) for step in plan.steps), "nothing streams"
    for strategy in (StrategyName.SERIALIZED, StrategyName.DEFERRED):
        fast = simulate(config, strategy, net, "analytic")
        assert isinstance(fast, Estimate), f"{case} {strategy.value}: the arrays declined"
        slow = simulate(config, strategy, net, "analytic", tasks=True)
        assert isinstance(slow, RunResult)
        _same_figures(fast, slow)
        assert any(op.endswith(".lpddr") for op in slow.cycles_by_op()) or \
            slow.breakdown.matmul_cycles > 0


#: A plan with no step: card engines with no opening stream.
_NO_PLAN = LoweringPlan((), {}, 4, np.zeros(4, dtype=np.int64))


def _fifo_reference(ready: list[int], held: list[int]) -> list[int]:
    """Start cycles of tasks on one FIFO engine, each ready when a private task of
    ``ready[i]`` cycles ends (`sim.backends.fifo`, the task-by-task rules)."""
    engines = (Engine("card0.lpddr", EngineKind.MEMORY, None),
               *(Engine(f"wait{i}", EngineKind.CLOSED_FORM, None) for i in range(len(ready))))
    waits = [Task(f"wait{i}", "wait", 0, i + 1, r, 0, Category.COMMUNICATION, ())
             for i, r in enumerate(ready)]
    tasks = [Task(f"read{i}", "read", 0, 0, h, 0, Category.MATMUL, (i,))
             for i, h in enumerate(held)]
    timeline = run_analytic(TaskGraph(engines, (*waits, *tasks)))
    return [int(timeline.start_array[len(ready) + i]) for i in range(len(held))]


def test_one_card_engine_serves_an_ops_tasks_in_fifo_order_whatever_their_order():
    """Tasks readied out of program order (a core's previous piece done early): the
    card takes them as the FIFO rules do (earliest ready first, program order on ties)."""
    rng = np.random.default_rng(7)
    for _ in range(40):
        n = int(rng.integers(1, 9))
        ready = rng.integers(1, 30, size=n).tolist()
        held = rng.integers(1, 12, size=n).tolist()
        engines = CardEngines(_config("lpddr_weights", 1 << 30).machine, _NO_PLAN, 4)
        times = engines.run(np.zeros(n, dtype=np.int64), moment(np.asarray(ready), 0),
                            np.asarray(held), np.zeros(n, dtype=np.int64), 0)
        assert times is not None
        assert times.start.tolist() == _fifo_reference(ready, held), (ready, held)


def test_a_task_that_would_jump_an_earlier_ops_queue_is_declined():
    """The card took an op's task at cycle 20 (ready at 10); a later op's task ready at
    cycle 5 would have been waiting then and gone first: the arrays cannot say."""
    engines = CardEngines(_config("lpddr_weights", 1 << 30).machine, _NO_PLAN, 4)
    core = np.zeros(1, dtype=np.int64)
    first = engines.run(core, moment(np.array([10]), 0), np.array([10]), core, 0)
    assert first is not None
    assert engines.run(core, moment(np.array([25]), 0), np.array([3]), core, 1) is not None
    assert engines.run(core, moment(np.array([5]), 0), np.array([3]), core, 2) is None


def _one_opening() -> tuple[LoweringPlan, int]:
    """A plan of one op streaming 4 kB on core 0 (its card's single opening stream),
    and the stream's cycles."""
    step = OpStep("w", OpKind.MATMUL, Category.MATMUL, Layout.SLICE, 0, (0,), (0,), 1,
                  ((1,),), ((0,),), (), lpddr_bytes=(4096,))
    machine = _config("lpddr_weights", 1 << 30).machine
    return (LoweringPlan((step,), {}, 4, np.zeros(4, dtype=np.int64)),
            stream_cycles(4096, machine.memory.lpddr))


def _read_against_stream(read_waits: bool, held: int) -> int:
    """The start of a 3-cycle read on a card before (in program order) an opening
    stream of ``held`` cycles, both ready at the start (or the read a round later,
    behind a zero-time task: ``read_waits``), task by task."""
    engines = (Engine("card0.lpddr", EngineKind.MEMORY, None),
               Engine("core1.simd", EngineKind.SIMD, 1))
    tasks = [Task("z", "z", 0, 1, 0, 0, Category.SIMD, ()),
             Task("read", "read", 0, 0, 3, 0, Category.COMMUNICATION,
                  (0,) if read_waits else ()),
             Task("stream", "stream", 0, 0, held, 0, Category.MATMUL, ())]
    return int(run_analytic(TaskGraph(engines, tuple(tasks))).start_array[1])


@pytest.mark.parametrize("floor", [0, int(moment(100, 3))])
def test_a_task_ready_when_a_single_opening_is_dispatched_competes_with_it(floor):
    """A card's one opening stream is dispatched when it is ready (the start, or a
    stage's barrier): a read of the card ready in that same round competes with it and,
    first in program order, goes first (task by task), so the arrays decline it; one
    ready a round later waits for the stream, as the task run has it."""
    plan, held = _one_opening()
    assert _read_against_stream(False, held) == 0  # the read went first
    assert _read_against_stream(True, held) == held
    core, one = np.array([1]), np.array([3])
    engines = CardEngines(_config("lpddr_weights", 1 << 30).machine, plan, 4, range(0))
    assert engines.lay_out(plan, range(1), floor)
    assert engines.run(core, np.array([floor]), one, np.zeros(1, dtype=np.int64), 0) is None
    engines = CardEngines(_config("lpddr_weights", 1 << 30).machine, plan, 4, range(0))
    assert engines.lay_out(plan, range(1), floor)
    late = engines.run(core, np.array([floor + 1]), one, np.zeros(1, dtype=np.int64), 0)
    assert late is not None
    assert late.start.tolist() == [floor // (1 << 22) + held]


def test_a_card_engine_serves_its_cores_one_after_the_other():
    """Two cores of one card streaming their halves of every linear: the second of each
    pair starts when the first releases the engine (the closed form of a FIFO server),
    and the arrays' stream starts are the task run's."""
    config = _config("lpddr_weights", 1 << 30, cores=2, per_layer=2, latency=0)
    net = build_interconnect(config.machine)
    state = evaluate(prepare(config, interconnect=net).plan, config.machine, net)
    assert state is not None
    streams = [b for b in state.batches if b.op.endswith(".lpddr")]
    slow = simulate(config, None, net, "analytic", tasks=True)
    assert isinstance(slow, RunResult)
    start = slow.timeline.start_array
    free = 0
    for batch in streams:
        for element in range(batch.visible.size):
            assert int(batch.start[element]) == int(start[batch.index_of(element)])
            assert batch.start[element] >= free  # never two at once on the card
            free = int(batch.start[element]) + int(batch.end[element] // (1 << 22)
                                                   - batch.start[element])
        assert batch.start[1] == batch.start[0] + (batch.end[0] // (1 << 22) - batch.start[0])
