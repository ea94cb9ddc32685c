"""One simulation from a validated config: workload -> strategy pass -> mapping -> DES."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sim.backends import Breakdown, Timeline, attribute_critical_path, run_des
from sim.config import RunConfig, StrategyName
from sim.ir import EngineKind, TaskGraph
from sim.network.from_config import Interconnect
from sim.network.traffic import LinkTraffic, link_traffic
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
    closed_form_cycles: dict[str, int]
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
        """Cycles each compute engine (matmul, SIMD) that ran a task was occupied."""
        busy: dict[str, int] = {}
        engines = self.taskgraph.engines
        for task in self.taskgraph.tasks:
            engine = engines[task.engine]
            if engine.kind in (EngineKind.MATMUL, EngineKind.SIMD):
                busy[engine.name] = busy.get(engine.name, 0) + task.duration_cycles
        return {e.name: busy[e.name] for e in engines if e.name in busy}

    def cores_used(self) -> int:
        """Cores on whose matmul engine or SIMD unit some task ran."""
        engines = self.taskgraph.engines
        return len({engines[t.engine].core for t in self.taskgraph.tasks
                    if engines[t.engine].kind in (EngineKind.MATMUL, EngineKind.SIMD)})

    def link_traffic(self) -> dict[str, LinkTraffic]:
        """What every link that carried something carried, in engine order."""
        return {name: t for name, t in link_traffic(self.taskgraph, self.timeline).items()
                if t.hops}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary; every figure comes from the timeline."""
        b = self.breakdown
        latency = max(self.latency_cycles, 1)
        extra: dict[str, Any] = {}
        if self.closed_form_cycles:
            extra["closed_form_cycles"] = sum(self.closed_form_cycles.values())
        links = self.link_traffic()
        if links:
            extra["links"] = {
                name: {"bytes": t.bytes, "busy_cycles": t.busy_cycles,
                       "utilization": t.busy_cycles / latency}
                for name, t in links.items()
            }
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
            **extra,
            "engine_busy_cycles": self.engine_busy_cycles(),
            "cores_used": self.cores_used(),
            "tasks": len(self.taskgraph.tasks),
            "events": self.timeline.events,
            "wall_seconds": self.wall_seconds,
        }


def simulate(config: RunConfig, strategy: StrategyName | None = None,
             interconnect: Interconnect | None = None) -> RunResult:
    """Run ``config`` under ``strategy`` (default: the config's own) on the DES.

    ``interconnect`` may be shared between runs on the same machine.
    """
    chosen = strategy or config.strategy
    began = time.perf_counter()
    graph = apply_strategy(build_workload(config.workload), chosen).graph
    lowered = lower(graph, config.machine, config.schedule, interconnect)
    timeline = run_des(lowered.taskgraph)
    breakdown = attribute_critical_path(lowered.taskgraph, timeline)
    return RunResult(config, chosen, lowered.taskgraph, timeline, breakdown,
                     lowered.closed_form_cycles, wall_seconds=time.perf_counter() - began)
