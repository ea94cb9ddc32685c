"""Serving stage times in arrays (`sim.serving.stage_run.array_stage_run`,
`sim.backends.arrays.staged`) against the task path.

Truth: the probe's plan emitted as tasks, the stage barrier added as joins
(`sim.serving.replicate.staged_graph`) and the graph played task by task by
the analytic backend. The arrays must give the same stage times, LPDDR busy
cycles per stage, shared engines and task count, bit for bit, or decline.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

import numpy as np
import pytest
from test_serving import _config, _machine

from sim.backends.analytic import run_analytic
from sim.backends.arrays.evaluate import _Evaluator
from sim.backends.arrays.staged import evaluate_staged
from sim.config import RunConfig, StrategyName
from sim.network.from_config import Interconnect, build_interconnect
from sim.runner import Prepared, prepare
from sim.schedule.placement import layer_groups, pipeline_stages
from sim.serving import serve
from sim.serving import stage_run as stage_run_module
from sim.serving.probes import plan_probes
from sim.serving.replicate import shared_engines, step_stages, task_stages
from sim.serving.serve import micro_batch_sizes
from sim.serving.stage_run import array_stage_run, lower, stage_times

_LPDDR = {"placement": "lpddr_weights", "lpddr": {"bytes_per_cycle": 4.0, "latency_cycles": 200}}


def _prefill(config: RunConfig) -> RunConfig:
    data = config.model_dump()
    data["workload"].update(phase="prefill", seq_len=8)
    return RunConfig.model_validate(data)


def _cases() -> dict[str, tuple[RunConfig, bool]]:
    """name: (config, whether its weights stream from LPDDR)."""
    tight = _machine(2, 4, 4, placement="sram_first")
    tight["memory"]["sram_bytes_per_core"] = 1 << 14  # what does not fit streams from LPDDR
    return {
        "four_stages": (_config(8, 4), False),
        "three_stages_uneven_micro_batches": (_config(7, 3, stages=3), False),
        "head_stage": (_config(4, 2, whole_model=True, stages=2, head_stage=True), False),
        "three_layers_in_the_middle": (_config(6, 6, whole_model=True,
                                               stage_layers=[1, 3, 1]), False),
        "lpddr_weights_one_card": (_config(8, 8, _machine(1, 4, 4, **_LPDDR), stages=4), True),
        "lpddr_whole_model_head": (_config(6, 3, _machine(1, 4, 4, **_LPDDR), whole_model=True,
                                           stages=2, head_stage=True), True),
        "sram_first_small_sram": (_config(8, 4, tight, stages=2), True),
        "prefill_sram_first": (_prefill(_config(8, 4, tight, whole_model=True, stages=2)), True),
    }


CASES = _cases()
_NETS: dict[str, Interconnect] = {}


def _net(name: str) -> Interconnect:
    if name not in _NETS:
        _NETS[name] = build_interconnect(CASES[name][0].machine)
    return _NETS[name]


def _probe_plans(name: str, strategy: StrategyName) -> list[Prepared]:
    """Every probe's plan of case ``name``, at every micro-batch size, as `serve` cuts them."""
    config = CASES[name][0]
    groups = layer_groups(config.machine, config.schedule)
    workload = config.workload
    per_group = pipeline_stages(workload.layers or workload.model.num_layers,  # type: ignore
                                len(groups), config.schedule, always=True) or []
    first = config.schedule.pipeline.first_group
    layers = per_group[first:]
    cores = [g.cores for g in groups[first:first + len(layers)]]
    probes = plan_probes(config.machine, cores, layers, first,
                         config.schedule.pipeline.head_stage)
    return [prepare(probe.config(config, b), strategy, _net(name))
            for b in sorted(set(micro_batch_sizes(config))) for probe in probes]


@pytest.mark.parametrize("strategy", [StrategyName.DEFERRED, StrategyName.SERIALIZED])
@pytest.mark.parametrize("name", sorted(CASES))
def test_stage_times_in_arrays_equal_the_barrier_run_task_by_task(name, strategy):
    """Every probe of every case: the arrays accept it and give the task path's stage
    times, LPDDR cycles, shared engines and task count."""
    streams = 0
    for prepared in _probe_plans(name, strategy):
        got = array_stage_run(prepared)
        assert got is not None, f"{name}: the arrays declined"
        cut = lower(prepared.config, strategy, _net(name), "closed_form", prepared)
        times, busy = stage_times(cut, run_analytic)
        assert got.times == times
        assert got.memory_cycles == busy
        assert got.shared == shared_engines(cut.graph, cut.stage)
        assert got.tasks == len(cut.graph)
        assert len(times) > 1 and min(times) > 0  # a real pipeline cut: every stage works
        streams += sum(busy)
    assert streams > 0 or not CASES[name][1]  # (whole-model embeddings read LPDDR too)


class _Boundaries(_Evaluator):
    """The evaluator, noting how many tasks come before each step."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.before: list[int] = []

    def _enter(self, index: int) -> None:
        self.before.append(self.task_count)


@pytest.mark.parametrize("name", ["head_stage", "lpddr_whole_model_head",
                                  "three_layers_in_the_middle"])
def test_the_stage_of_a_step_is_the_stage_of_each_of_its_tasks(name):
    """`step_stages`, spread over the tasks each step emits, is `task_stages` of the
    emitted graph (from the tasks' own op names)."""
    for prepared in _probe_plans(name, StrategyName.DEFERRED):
        config = prepared.config
        per_group = pipeline_stages(config.workload.layers, len(layer_groups(  # type: ignore
            config.machine, config.schedule)), config.schedule) or []
        evaluator = _Boundaries(prepared.plan, config.machine, prepared.interconnect)
        evaluator.run()
        counts = np.diff([*evaluator.before, evaluator.task_count])
        stages = step_stages(prepared.plan, prepared.graph, per_group)
        assert stages is not None
        assert ((stages >= 0) | (counts == 0)).all()  # a step of no stage emits no task
        graph = prepared.emit("closed_form")
        assert np.repeat(stages, counts).tolist() == task_stages(
            graph, prepared.graph, per_group).tolist()


def _without_timing(result: Any) -> dict[str, Any]:
    out = result.to_dict()
    out.pop("wall_seconds"), out.pop("tasks_simulated")
    return out


@pytest.mark.parametrize("mode", ["probes", "stages"])
@pytest.mark.parametrize("name", ["lpddr_weights_one_card", "three_stages_uneven_micro_batches",
                                  "head_stage"])
def test_serve_gives_the_same_result_with_and_without_the_arrays(name, mode, monkeypatch):
    config, net = CASES[name][0], _net(name)
    calls: list[bool] = []

    def spy(prepared: Prepared) -> Any:
        got = array_stage_run(prepared)
        calls.append(got is not None)
        return got

    monkeypatch.setattr(stage_run_module, "array_stage_run", spy)
    fast = serve(config, backend="analytic", mode=mode, interconnect=net)
    assert calls and all(calls)  # every stage time came from the arrays
    asked = len(calls)
    monkeypatch.setattr(import_module("sim.serving.serve"), "ARRAY_BACKENDS", frozenset())
    slow = serve(config, backend="analytic", mode=mode, interconnect=net)
    assert len(calls) == asked  # the task path throughout
    assert _without_timing(fast) == _without_timing(slow)
    assert fast.shared_engines == slow.shared_engines
    assert fast.tasks_simulated == slow.tasks_simulated  # the tasks the graphs have


def test_a_declined_plan_falls_back_to_the_task_path(monkeypatch):
    """Where the evaluator declines, `serve` plays the staged task graph: the result is
    the task path's."""
    config, net = CASES["lpddr_whole_model_head"][0], _net("lpddr_whole_model_head")
    truth = serve(config, backend="analytic", interconnect=net)
    declined: list[int] = []

    def declines(*args: Any) -> None:
        declined.append(1)
        return None

    monkeypatch.setattr(stage_run_module, "evaluate_staged", declines)
    got = serve(config, backend="analytic", interconnect=net)
    assert declined
    assert _without_timing(got) == _without_timing(truth)


def test_stages_out_of_plan_order_are_declined():
    """A stage whose steps are not contiguous, or a stage skipped (no barrier before the
    next), cannot be evaluated with one floor per stage: declined."""
    prepared = _probe_plans("head_stage", StrategyName.DEFERRED)[0]
    config = prepared.config
    per_group = pipeline_stages(config.workload.layers, len(layer_groups(  # type: ignore
        config.machine, config.schedule)), config.schedule) or []
    stages = step_stages(prepared.plan, prepared.graph, per_group)
    assert stages is not None
    n = int(stages.max()) + 1
    machine, net = config.machine, prepared.interconnect
    assert evaluate_staged(prepared.plan, machine, net, stages, n) is not None
    used = np.flatnonzero(stages >= 0)
    interleaved = stages.copy()
    interleaved[used[-1]] = 0  # the last step back in the first stage
    assert evaluate_staged(prepared.plan, machine, net, interleaved, n) is None
    skipped = np.where(stages > 0, stages + 1, stages)  # stage 1 has no task
    assert evaluate_staged(prepared.plan, machine, net, skipped, n + 1) is None
