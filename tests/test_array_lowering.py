"""The analytic backend evaluated in arrays (`sim.backends.arrays`) against the task-by-task one.

Truth: `simulate_tasks(..., backend="analytic")`, which builds every task and
schedules it on a heap (itself held to the DES's timeline in test_analytic).
Where the arrays evaluate a run they must give the same latency, event count,
critical path (task indices included), breakdown, per-op critical cycles and
op purposes; where they decline, `simulate` hands back that backend's result.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from conftest import card_machine, shared_interconnect

from sim.backends.arrays import evaluate
from sim.backends.arrays.batches import OpBatch, moment
from sim.backends.arrays.schedule import EngineState, schedule_batch
from sim.config import StrategyName, load_config, parse_config, resolve_model_preset
from sim.config.files import apply_overrides, load_tree
from sim.ir import Category
from sim.results import Estimate
from sim.runner import RunResult, prepare, simulate, simulate_tasks
from sim.sweep.execute import PointTask, run_point


def _same_figures(fast: Estimate, slow: RunResult) -> None:
    assert fast.latency_cycles == slow.latency_cycles
    assert fast.events == slow.events
    assert fast.tasks == len(slow.taskgraph.tasks)
    assert fast.breakdown == slow.breakdown  # the critical path's task indices too
    assert fast.cycles_by_op() == slow.cycles_by_op()
    assert fast.op_purpose == slow.op_purpose
    assert fast.shares() == slow.shares()


_ROOT = Path(__file__).resolve().parent.parent
#: Every preset layer (the server and 70B presets hold whole models: too slow here).
PRESETS = [*sorted(str(p.relative_to(_ROOT)) for p in (_ROOT / "configs/paper").glob("*.yaml")
                   if "server" not in p.name and "70b" not in p.name),
           "configs/flashnorm_toy.yaml"]


#: The column split: the plans these tests were written for (2d plans: SCHEDULES below).
COLUMNS = ["schedule.linear_split=columns"]


@pytest.mark.parametrize("path", PRESETS)
def test_every_preset_and_strategy_matches_the_task_by_task_backend(repo, path):
    config = load_config(repo / path, COLUMNS)
    net = shared_interconnect(config.machine)
    for strategy in StrategyName:
        fast = simulate(config, strategy, net, "analytic")
        assert isinstance(fast, Estimate), f"{path} {strategy.value}: the arrays declined"
        _same_figures(fast, simulate_tasks(config, strategy, net, "analytic"))


def test_layers_on_several_groups_move_between_them(repo):
    """Two layers on two chiplets of the server: layer-to-layer messages."""
    config = load_config(repo / "configs/paper/llama3_8b_decode_server.yaml",
                         ["workload.layers=2", *COLUMNS])
    net = shared_interconnect(config.machine)
    for strategy in (StrategyName.SERIALIZED, StrategyName.DEFERRED):
        fast = simulate(config, strategy, net, "analytic")
        assert isinstance(fast, Estimate)
        assert any(op.endswith(">move") for op in fast.op_purpose)
        _same_figures(fast, simulate_tasks(config, strategy, net, "analytic"))


SMALL_LLAMA = {"name": "small-llama", "hidden_size": 256, "num_heads": 8, "num_kv_heads": 2,
               "ffn_size": 688, "activation": "swiglu", "norm": "rmsnorm", "num_layers": 2,
               "vocab_size": 1000}
WORKLOADS = {
    "gpt2_decode": {"kind": "transformer", "model": "gpt2", "kv_len": 96, "layers": 1},
    "llama_prefill": {"kind": "transformer", "model": SMALL_LLAMA, "phase": "prefill",
                      "seq_len": 24, "batch": 2, "layers": 1},
    "llama_two_layers": {"kind": "transformer", "model": SMALL_LLAMA, "kv_len": 200,
                         "layers": 2},
    "layernorm_linear": {"kind": "norm_linear", "norm": "layernorm", "hidden_size": 1000,
                         "out_features": 300, "tokens": 3},
}
SCHEDULES = {
    "default": {"linear_split": "columns"},
    "rows_ring": {"linear_split": "rows", "gather_algorithm": "ring",
                  "reduction_algorithm": "ring"},
    "hierarchical": {"gather_algorithm": "hierarchical", "reduction_algorithm": "in_network",
                     "linear_split": "columns"},
    "uneven_tiles": {"tile_elems": 7, "max_tiles_per_op": 3, "reduction_algorithm": "direct",
                     "attention_cores_per_set": 5, "linear_split": "columns"},
    "butterfly_small_groups": {"reduction_algorithm": "recursive_doubling",
                               "gather_algorithm": "tree", "collective_arity": 3,
                               "cores_per_layer": 6, "linear_split": "columns"},
    # 2 x 6 grids (12 cores: two chiplets of the 9-core ring): per linear, an
    # all-gather per grid row (a step of requests over different core groups,
    # each waiting only for its own cores) and a reduce per output slice
    "grid_2d": {"linear_split": "2d", "linear_grid": 2, "cores_per_layer": 12},
}
MACHINES = [(12, "mesh"), (16, "card"), (9, "ring")]


def test_placements_algorithms_and_tilings_match_the_task_by_task_backend(repo):
    """A family of small runs over workloads, schedules, machines and strategies;
    every run the arrays evaluate must match, and they must evaluate most."""
    evaluated, declined = 0, []
    cases = itertools.product(enumerate(WORKLOADS.items()), enumerate(SCHEDULES.items()))
    for (w_index, (w_name, workload)), (s_index, (s_name, schedule)) in cases:
        machine = MACHINES[(w_index + s_index) % len(MACHINES)]  # every schedule meets each
        config = parse_config({"machine": card_machine(repo, *machine, chiplets=2),
                               "workload": workload, "schedule": schedule})
        net = shared_interconnect(config.machine)
        for strategy in StrategyName:
            slow = simulate_tasks(config, strategy, net, "analytic")
            fast = simulate(config, strategy, net, "analytic")
            label = (w_name, s_name, machine, strategy.value)
            if isinstance(fast, RunResult):
                declined.append(label)
                assert fast.shares() == slow.shares() and fast.events == slow.events
                continue
            evaluated += 1
            try:
                _same_figures(fast, slow)
            except AssertionError as exc:
                raise AssertionError(f"{label}: {exc}") from exc
    assert evaluated >= 0.9 * (evaluated + len(declined)), declined


def test_a_collective_workload_is_declined_and_run_task_by_task(repo):
    config = load_config(repo / "configs/collectives/allgather_ring16.yaml")
    net = shared_interconnect(config.machine)
    assert evaluate(prepare(config, None, net).plan, config.machine, net) is None
    result = simulate(config, None, net, "analytic")
    assert isinstance(result, RunResult) and result.backend == "analytic"


@pytest.mark.parametrize("cores", [512, 64])  # 64: the layer does not fit
def test_sweep_rows_are_the_same_whichever_path_computes_them(repo, monkeypatch, cores):
    tree = apply_overrides(resolve_model_preset(load_tree(
        repo / "configs/paper/llama3_8b_decode.yaml")),
        [f"schedule.cores_per_layer={cores}", *COLUMNS, "machine.memory.placement=sram_only"])
    task = PointTask(tree, tuple(s.value for s in StrategyName), "analytic")
    fast_rows = run_point(task)
    monkeypatch.setattr("sim.runner.evaluate", lambda *args: None)
    assert run_point(task) == fast_rows
    assert {row["status"] for row in fast_rows} == {"ok" if cores == 512 else "error"}


def test_an_engine_given_a_task_readied_before_its_last_one_declines(repo):
    """The arrays take each engine's tasks op by op; a task that became ready before
    the engine's previous one would jump the FIFO queue: the arrays must decline."""
    engine = EngineState.idle(4)
    engine.ready[0] = moment(10, 0)
    one = np.zeros((1, 1), dtype=np.int64)
    batch = OpBatch("late", Category.SIMD, 0, one[0], one[0], one[0],
                    cores=np.zeros(1, dtype=np.int64))
    assert not schedule_batch(batch, engine, 0, one + moment(9, 0), one + 3, one)
    assert engine.ready[0] == moment(10, 0)  # a declined batch changes nothing
    assert schedule_batch(batch, engine, 0, one + moment(10, 0), one + 3, one)  # ties: in order
    assert (batch.start[0], batch.visible[0]) == (10, moment(13, 0))
