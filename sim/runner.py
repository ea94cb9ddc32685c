"""One simulation from a validated config: workload -> strategy pass -> mapping -> backend.

Two timing backends run the lowered graph (``BACKENDS``):

- ``des``: every message hop is a task on its link; the discrete-event engine
  (`sim.backends.des`) plays out link contention. The truth.
- ``analytic``: every collective becomes closed-form tasks that deliver to
  each core at its uncontended arrival cycle (`sim.schedule.lower` with
  ``collectives="closed_form"``), evaluated by `sim.backends.analytic`. No
  contention; a quicker estimate for sweeps. It matches the DES where no hop
  waits for a link (``link_queueing_cycles`` of the DES run is 0) and every
  collective's contributions are ready together. Sweeps run it through
  `sim.estimate.estimate`, which gets the same figures without building the
  task graph.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal, get_args

from sim.backends import Breakdown, Timeline, attribute_critical_path, run_des
from sim.backends.analytic import run_analytic
from sim.config import RunConfig, StrategyName, TransformerWorkload
from sim.errors import ConfigError
from sim.figures import Figures
from sim.ir import Category, EngineKind, OpGraph, TaskGraph
from sim.network.from_config import Interconnect
from sim.network.traffic import LinkTraffic, link_traffic, queueing_cycles
from sim.schedule import apply_strategy, lower
from sim.workload import build_workload

__all__ = ["BACKENDS", "Backend", "RunResult", "check_backend", "simulate", "weight_bytes",
           "workload_bits"]

#: The timing backends (module docstring).
Backend = Literal["des", "analytic"]
BACKENDS: tuple[str, ...] = get_args(Backend)


def check_backend(name: str, key: str = "--backend", also: tuple[str, ...] = ()) -> str:
    """``name`` if it is a backend (or one of ``also``); else a ConfigError naming ``key``."""
    choices = (*BACKENDS, *also)
    if name not in choices:
        raise ConfigError(f"{key}: unknown backend {name!r} (choose from {', '.join(choices)})")
    return name


@dataclass(frozen=True)
class RunResult(Figures):
    """The outcome of one run. `to_dict` is what ``--format json`` prints."""

    config: RunConfig
    strategy: StrategyName
    taskgraph: TaskGraph
    timeline: Timeline
    breakdown: Breakdown
    closed_form_cycles: dict[str, int]
    op_purpose: dict[str, str]
    wall_seconds: float
    backend: Backend = "des"
    backend_seconds: float = 0.0
    #: The interconnect the run used (reports draw its topology from here).
    interconnect: Interconnect | None = None

    @property
    def latency_cycles(self) -> int:
        """Reference-clock cycles until the last result is visible."""
        return self.timeline.latency_cycles

    @property
    def events(self) -> int:
        """Events the backend handled (`Timeline.events`)."""
        return self.timeline.events

    def cycles_by_op(self) -> dict[str, int]:
        """Critical-path cycles of every op on the path, in path order."""
        return self.breakdown.cycles_by_op(self.taskgraph)

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

    def link_queueing_cycles(self) -> int:
        """Cycles communication tasks waited for a busy engine after their inputs were
        ready, summed: 0 means nothing contended with any message (always 0 for the
        analytic backend, whose collectives have private engines)."""
        waits = queueing_cycles(self.taskgraph, self.timeline)
        return sum(w for w, t in zip(waits, self.taskgraph.tasks, strict=True)
                   if t.category is Category.COMMUNICATION)

    def link_traffic(self) -> dict[str, LinkTraffic]:
        """What every link that carried something carried, in engine order."""
        return {name: t for name, t in link_traffic(self.taskgraph, self.timeline).items()
                if t.hops}

    def op_table(self) -> list[dict[str, Any]]:
        """Per op (and per inserted collective): tasks, busy cycles, when it ran,
        and its critical-path cycles; in program order."""
        critical = self.cycles_by_op()
        starts, readies = self.timeline.start_cycles, self.timeline.ready_cycles
        totals: dict[str, list[int]] = {}  # op -> [tasks, busy, first start, last ready]
        kinds: dict[str, str] = {}  # op -> category of its first task
        for i, task in enumerate(self.taskgraph.tasks):
            row = totals.get(task.op)
            if row is None:
                totals[task.op] = [1, task.duration_cycles, starts[i], readies[i]]
                kinds[task.op] = task.category.value
                continue
            row[0] += 1
            row[1] += task.duration_cycles
            row[2] = min(row[2], starts[i])
            row[3] = max(row[3], readies[i])
        return [{"op": op, "kind": self.op_purpose.get(op, kinds[op]),
                 "tasks": n, "busy_cycles": busy, "first_start_cycle": first,
                 "last_ready_cycle": last, "critical_cycles": critical.get(op, 0)}
                for op, (n, busy, first, last) in totals.items()]

    def _per_token(self) -> dict[str, Any]:
        workload = self.config.workload
        if not isinstance(workload, TransformerWorkload):
            return {}
        simulated = workload.layers or workload.model.num_layers
        total = workload.model.num_layers
        key = "latency_per_token_us" if workload.phase == "decode" else "time_to_first_token_us"
        return {
            "model": workload.model.name,
            "phase": workload.phase,
            "layers_simulated": simulated,
            "model_layers": total,
            key: self.latency_us * total / simulated,
            "extrapolated_to_all_layers": simulated != total,
        }

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
            "backend": self.backend,
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
            **self.shares(),
            "link_queueing_cycles": self.link_queueing_cycles(),
            **self._per_token(),
            "ops": self.op_table(),
            "engine_busy_cycles": self.engine_busy_cycles(),
            "cores_used": self.cores_used(),
            "tasks": len(self.taskgraph.tasks),
            "events": self.events,
            "wall_seconds": self.wall_seconds,
            "backend_seconds": self.backend_seconds,
        }


def workload_bits(workload: object) -> dict[str, int]:
    """Bits per stored weight and per activation element of ``workload``."""
    if isinstance(workload, TransformerWorkload):
        return {"weight": workload.weight_bits, "activation": workload.activation_bits}
    return {"weight": 8, "activation": 16}


def weight_bytes(graph: OpGraph, bits: dict[str, int]) -> int:
    """Bytes of every linear's stationary weights and bias in ``graph``."""
    elems = sum(op.attrs.get("weight_elems", 0) + op.attrs.get("bias_elems", 0)
                for op in graph.ops if op.role == "linear")
    return -(-elems * bits["weight"] // 8)


def simulate(config: RunConfig, strategy: StrategyName | None = None,
             interconnect: Interconnect | None = None, backend: Backend = "des") -> RunResult:
    """Run ``config`` under ``strategy`` (default: the config's own) on ``backend``.

    ``interconnect`` may be shared between runs on the same machine.
    ``wall_seconds`` covers building, lowering and the backend;
    ``backend_seconds`` only the backend.
    """
    check_backend(backend, "backend")
    chosen = strategy or config.strategy
    began = time.perf_counter()
    graph = apply_strategy(build_workload(config.workload), chosen).graph
    lowered = lower(graph, config.machine, config.schedule, interconnect,
                    workload_bits(config.workload),
                    collectives="hops" if backend == "des" else "closed_form")
    timed = time.perf_counter()
    timeline = (run_des if backend == "des" else run_analytic)(lowered.taskgraph)
    backend_seconds = time.perf_counter() - timed
    breakdown = attribute_critical_path(lowered.taskgraph, timeline)
    return RunResult(config, chosen, lowered.taskgraph, timeline, breakdown,
                     lowered.closed_form_cycles, lowered.op_purpose,
                     wall_seconds=time.perf_counter() - began, backend=backend,
                     backend_seconds=backend_seconds, interconnect=lowered.interconnect)
