"""One simulation from a validated config: workload -> strategy pass -> mapping -> DES."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sim.backends import Breakdown, Timeline, attribute_critical_path, run_des
from sim.config import RunConfig, StrategyName
from sim.ir import TaskGraph
from sim.schedule import apply_strategy, lower
from sim.workload import build_workload

__all__ = ["RunResult", "simulate"]


@dataclass(frozen=True)
class RunResult:
    """The outcome of one run. `to_dict` is what ``--format json`` prints."""

    config: RunConfig
    strategy: StrategyName
    taskgraph: TaskGraph
    timeline: Timeline
    breakdown: Breakdown
    wall_seconds: float

    @property
    def latency_cycles(self) -> int:
        """Reference-clock cycles until the last result is visible."""
        return self.timeline.latency_cycles

    @property
    def latency_us(self) -> float:
        """The latency in microseconds at the machine's reference clock."""
        return self.latency_cycles / (self.config.machine.clock_ghz * 1e3)

    def engine_busy_cycles(self) -> dict[str, int]:
        """Cycles each engine was occupied, by engine name."""
        busy = {engine.name: 0 for engine in self.taskgraph.engines}
        for task in self.taskgraph.tasks:
            busy[self.taskgraph.engines[task.engine].name] += task.duration_cycles
        return busy

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary; every figure comes from the timeline."""
        b = self.breakdown
        return {
            "strategy": self.strategy.value,
            "machine": self.config.machine.name,
            "workload": self.config.workload.kind,
            "latency_cycles": self.latency_cycles,
            "latency_us": self.latency_us,
            "breakdown_cycles": {
                "matmul": b.matmul_cycles,
                "simd": b.simd_cycles,
                "communication": b.communication_cycles,
                "exposed_communication": b.exposed_communication_cycles,
            },
            "engine_busy_cycles": self.engine_busy_cycles(),
            "cores_used": len({e.core for e in self.taskgraph.engines if e.core is not None}),
            "tasks": len(self.taskgraph.tasks),
            "events": self.timeline.events,
            "wall_seconds": self.wall_seconds,
        }


def simulate(config: RunConfig, strategy: StrategyName | None = None) -> RunResult:
    """Run ``config`` under ``strategy`` (default: the config's own) on the DES."""
    chosen = strategy or config.strategy
    began = time.perf_counter()
    graph = apply_strategy(build_workload(config.workload), chosen).graph
    taskgraph = lower(graph, config.machine, config.schedule)
    timeline = run_des(taskgraph)
    breakdown = attribute_critical_path(taskgraph, timeline)
    return RunResult(config, chosen, taskgraph, timeline, breakdown,
                     wall_seconds=time.perf_counter() - began)
