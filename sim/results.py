"""What a run returns: a `RunResult` (a task graph and its timeline) or an `Estimate`.

Both are `Figures` (latency, critical path per op, purposes, events), so every
share, speedup and hidden fraction is reported by one definition. A
`RunResult` comes from a backend that ran tasks (the DES, or the analytic
backend task by task) and also carries what reports draw: the task graph, the
timeline, per-op tables, link traffic and the interconnect. An `Estimate`
comes from the analytic backend evaluated in arrays (`sim.backends.arrays`):
the same figures, without a task graph.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from sim.backends.timeline import Breakdown, Timeline
from sim.config import CollectiveWorkload, RunConfig, StrategyName
from sim.energy.count import EventCounts
from sim.energy.report import energy_figures
from sim.figures import Figures, per_token_figures
from sim.ir import EngineKind, TaskGraph
from sim.ir.plan import Purpose
from sim.ir.task_table import CATEGORIES
from sim.network.exactness import closed_form_kind_of_request
from sim.network.from_config import Interconnect, build_interconnect
from sim.network.traffic import LinkTraffic, dependency_ready_cycles, link_traffic

__all__ = ["Estimate", "Result", "RunResult", "Summary"]


@dataclass(frozen=True)
class RunResult(Figures):
    """The outcome of one run. `to_dict` is what ``--format json`` prints."""

    config: RunConfig
    strategy: StrategyName
    taskgraph: TaskGraph
    timeline: Timeline
    breakdown: Breakdown
    closed_form_cycles: dict[str, int]
    op_purpose: dict[str, Purpose]
    wall_seconds: float
    backend: str = "des"
    backend_seconds: float = 0.0
    #: The interconnect the run used (reports draw its topology from here).
    interconnect: Interconnect | None = None
    #: Analytic runs: why the figure may be more than 5% off the DES (None: trusted).
    analytic_warning: str | None = None
    #: The mapping's decisions: each linear's tiling (``columns``, ``rows``, ``2d RxC``)
    #: and each token norm's statistics (``local`` or ``collective``), by op / norm.
    tilings: dict[str, str] = field(default_factory=dict)
    norm_stats: dict[str, str] = field(default_factory=dict)
    #: Bytes each memory tier holds (`sim.ir.plan.LoweringPlan.tier_bytes`): what
    #: sits in LPDDR is also what the run streams from it (read once per run).
    memory_bytes: dict[str, int] = field(default_factory=dict)
    #: The events the run executed, per op (`sim.energy`; None: not counted).
    energy: EventCounts | None = None

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
        engines, cols = self.taskgraph.engines, self.taskgraph.columns
        busy = np.bincount(cols.engine, weights=cols.duration_cycles, minlength=len(engines))
        ran = np.bincount(cols.engine, minlength=len(engines))
        return {e.name: int(busy[i]) for i, e in enumerate(engines)
                if ran[i] and e.kind in (EngineKind.MATMUL, EngineKind.SIMD)}

    def cores_used(self) -> int:
        """Cores on whose matmul engine or SIMD unit some task ran."""
        engines = self.taskgraph.engines
        ran = np.bincount(self.taskgraph.columns.engine, minlength=len(engines))
        return len({e.core for i, e in enumerate(engines)
                    if ran[i] and e.kind in (EngineKind.MATMUL, EngineKind.SIMD)})

    def link_queueing_cycles(self) -> int:
        """Cycles communication tasks waited for a busy engine after their inputs were
        ready, summed: 0 means nothing contended with any message (always 0 for the
        analytic backend, whose collectives have private engines)."""
        waits = self.timeline.start_array - dependency_ready_cycles(self.taskgraph,
                                                                    self.timeline)
        return int(waits[self.taskgraph.columns.is_communication()].sum())

    def closed_form_kind(self) -> str | None:
        """``exact`` or ``lower_bound`` for a ``collective`` workload's closed form
        (`sim.network.exactness`), None for other workloads."""
        workload = self.config.workload
        if not isinstance(workload, CollectiveWorkload) or not self.closed_form_cycles:
            return None
        net = self.interconnect or build_interconnect(self.config.machine)
        return closed_form_kind_of_request(net.router, self.config.machine, workload).value

    def link_traffic(self) -> dict[str, LinkTraffic]:
        """What every link that carried something carried, in engine order."""
        return {name: t for name, t in link_traffic(self.taskgraph, self.timeline).items()
                if t.hops}

    def op_table(self) -> list[dict[str, Any]]:
        """Per op (and per inserted collective): tasks, busy cycles, when it ran,
        and its critical-path cycles; in program order."""
        critical = self.cycles_by_op()
        cols = self.taskgraph.columns
        codes, n_ops = cols.op_codes, len(cols.op_names)
        starts, readies = self.timeline.start_array, self.timeline.ready_array
        tasks = np.bincount(codes, minlength=n_ops)
        busy = np.bincount(codes, weights=cols.duration_cycles, minlength=n_ops)
        first = np.full(n_ops, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(first, codes, starts)
        last = np.full(n_ops, np.iinfo(np.int64).min, dtype=np.int64)
        np.maximum.at(last, codes, readies)
        first_task = np.full(n_ops, len(cols), dtype=np.int64)
        np.minimum.at(first_task, codes, np.arange(len(cols), dtype=np.int64))
        rows = []
        for code in np.argsort(first_task, kind="stable").tolist():  # program order
            if not tasks[code]:
                continue
            op = cols.op_names[code]
            kind = CATEGORIES[int(cols.category[first_task[code]])].value
            rows.append({"op": op, "kind": self.op_purpose.get(op, kind),
                         "tasks": int(tasks[code]), "busy_cycles": int(busy[code]),
                         "first_start_cycle": int(first[code]),
                         "last_ready_cycle": int(last[code]),
                         "critical_cycles": critical.get(op, 0)})
        return rows

    def summary(self) -> Summary:
        """The run's figures without its task graph and timeline (`Summary`)."""
        return Summary(self.config, self.strategy, dict(self.op_purpose), self.backend,
                       self.latency_cycles, self.events, self.breakdown, self.cycles_by_op(),
                       self.to_dict(), self.link_queueing_cycles(), self.wall_seconds,
                       self.analytic_warning)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary; every figure comes from the timeline."""
        b = self.breakdown
        latency = max(self.latency_cycles, 1)
        extra: dict[str, Any] = {}
        if self.closed_form_cycles:
            extra["closed_form_cycles"] = closed = sum(self.closed_form_cycles.values())
            kind = self.closed_form_kind()
            if kind is not None:
                extra["closed_form_kind"] = kind
                if kind == "lower_bound":  # the DES's link queueing explains the gap
                    extra["closed_form_gap_cycles"] = self.latency_cycles - closed
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
            **({"analytic_warning": self.analytic_warning} if self.backend == "analytic"
               else {}),
            **per_token_figures(self),
            **energy_figures(self),
            "tilings": self.tilings,
            "norm_stats": self.norm_stats,
            **({"memory_bytes": dict(self.memory_bytes)} if self.memory_bytes else {}),
            "ops": self.op_table(),
            "engine_busy_cycles": self.engine_busy_cycles(),
            "cores_used": self.cores_used(),
            "tasks": len(self.taskgraph),
            "events": self.events,
            "wall_seconds": self.wall_seconds,
            "backend_seconds": self.backend_seconds,
        }



@dataclass(frozen=True)
class Summary(Figures):
    """A `RunResult` without its task graph and timeline (`RunResult.summary`):
    what the tables and the JSON read, kept where many runs are held at once
    (``imcsim compare`` without ``--plot``: six strategies of a whole model).
    The same figures as the run's, computed once."""

    config: RunConfig
    strategy: StrategyName
    op_purpose: dict[str, Purpose]
    backend: str
    latency_cycles: int
    events: int
    breakdown: Breakdown
    critical_cycles: dict[str, int]  # per op on the critical path, in path order
    document: dict[str, Any]  # `RunResult.to_dict`
    queueing_cycles: int  # `RunResult.link_queueing_cycles`
    wall_seconds: float
    analytic_warning: str | None = None

    def cycles_by_op(self) -> dict[str, int]:
        return dict(self.critical_cycles)

    def to_dict(self) -> dict[str, Any]:
        """The run's ``--format json`` summary (a copy)."""
        return dict(self.document)

    def link_queueing_cycles(self) -> int:
        """As `RunResult.link_queueing_cycles`."""
        return self.queueing_cycles


@dataclass(frozen=True)
class Estimate(Figures):
    """The analytic backend's figures for one run, from the arrays."""

    backend: ClassVar[str] = "analytic"  # the only backend that evaluates in arrays

    config: RunConfig
    strategy: StrategyName
    latency_cycles: int
    breakdown: Breakdown  # ``critical_path`` holds the task-by-task graph's indices
    critical_cycles: dict[str, int]  # per op on the critical path, in path order
    op_purpose: dict[str, Purpose]
    events: int
    tasks: int  # the task-by-task graph's task count
    wall_seconds: float
    #: Why the figure may be more than 5% off the DES (None: trusted).
    analytic_warning: str | None = None
    tilings: dict[str, str] = field(default_factory=dict)  # as `RunResult.tilings`
    norm_stats: dict[str, str] = field(default_factory=dict)
    memory_bytes: dict[str, int] = field(default_factory=dict)  # as `RunResult.memory_bytes`
    energy: EventCounts | None = None  # as `RunResult.energy`

    def cycles_by_op(self) -> dict[str, int]:
        return dict(self.critical_cycles)


#: What `sim.runner.simulate` returns.
Result = RunResult | Estimate
