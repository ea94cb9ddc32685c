"""Analytic estimates for sweeps: the analytic backend's figures, evaluated in arrays.

`estimate` gives what a sweep row needs of one (config, strategy) on the
analytic backend. It evaluates the closed-form lowering in arrays
(`sim.schedule.array_lowering`, a few milliseconds for a layer on 256 cores)
and returns an `Estimate`: the same latency, critical path, breakdown and
event count as the task-by-task analytic backend (`sim.runner.simulate` with
``backend="analytic"``), without its task graph. Where the arrays decline,
it runs that backend and returns its `RunResult`; both are `Figures`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sim.backends.timeline import Breakdown
from sim.config import RunConfig, StrategyName
from sim.figures import Figures
from sim.gcpause import paused_gc
from sim.network.from_config import Interconnect, build_interconnect
from sim.runner import RunResult, simulate, workload_bits
from sim.schedule import apply_strategy
from sim.schedule.array_lowering import evaluate, event_count
from sim.schedule.array_path import array_breakdown, latency_cycles
from sim.workload import build_workload

__all__ = ["Estimate", "estimate"]


@dataclass(frozen=True)
class Estimate(Figures):
    """The analytic backend's figures for one run, from the arrays."""

    config: RunConfig
    strategy: StrategyName
    latency_cycles: int
    breakdown: Breakdown  # ``critical_path`` holds the task-by-task graph's indices
    critical_cycles: dict[str, int]  # per op on the critical path, in path order
    op_purpose: dict[str, str]
    events: int
    tasks: int  # the task-by-task graph's task count
    wall_seconds: float

    def cycles_by_op(self) -> dict[str, int]:
        return dict(self.critical_cycles)


@paused_gc()  # many short-lived objects: collection passes would cost more than the work
def estimate(config: RunConfig, strategy: StrategyName | None = None,
             interconnect: Interconnect | None = None) -> Estimate | RunResult:
    """``config`` under ``strategy`` (default: the config's own) on the analytic
    backend: an `Estimate` from the arrays, or, where they decline, the
    `RunResult` of ``simulate(..., backend="analytic")``. The figures are the
    same either way (tested).

    Raises
    ------
    CapacityError, GraphError, ConfigError
        As `sim.runner.simulate` does.
    """
    chosen = strategy or config.strategy
    began = time.perf_counter()
    net = interconnect or build_interconnect(config.machine)
    graph = apply_strategy(build_workload(config.workload), chosen).graph
    state = evaluate(graph, config.machine, config.schedule, net, workload_bits(config.workload))
    if state is None:
        return simulate(config, chosen, net, backend="analytic")
    breakdown, critical = array_breakdown(state.batches)
    result = Estimate(config, chosen, latency_cycles(state.batches), breakdown, critical,
                      state.purposes, event_count(state.batches), state.task_count,
                      wall_seconds=time.perf_counter() - began)
    state.batches.clear()  # op batches refer to this list: no cycle is left for the collector
    return result
