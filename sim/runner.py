"""The one pipeline: config -> workload -> strategy pass -> plan -> backend -> result.

`prepare` first checks that the workload can fit SRAM at all (`check_fits`,
milliseconds: `sim.schedule.capacity`), then builds the workload's OpGraph,
rewrites it under a strategy and asks the mapping for its `LoweringPlan`
(placement, movements, the capacity check core by core);
`simulate` then hands the plan to a backend picked by name from `BACKENDS`:

- ``des``: the task emitter with hop-level collectives (every message hop a
  task on its link); the discrete-event engine (`sim.backends.des`) plays out
  link contention. The truth.
- ``analytic``: the plan's closed-form schedule (each collective played alone on
  its links, combines on the SIMD units; `sim.backends.collective_profile`),
  flagged with an ``analytic_warning`` where it may be more than 5% off: evaluated in
  arrays (`sim.backends.arrays`, an `Estimate`) or, where the arrays decline
  or a report needs tasks (``tasks=True``), emitted with closed-form
  collectives and run task by task (`sim.backends.analytic`, a `RunResult`).
  The figures are the same either way (tested). It matches the DES where no
  hop waits for a link (``link_queueing_cycles`` of the DES run is 0) and
  every collective's contributions are ready together.

run, compare, check, verify, sweeps and the report generators all go through
here; no backend choice reaches the mapping.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from sim.backends.analytic import run_analytic
from sim.backends.analytic_warning import analytic_warning
from sim.backends.arrays import array_breakdown, evaluate, event_count, latency_cycles
from sim.backends.critical_path import attribute_critical_path
from sim.backends.des import run_des
from sim.backends.task_emitter import CollectiveMode, emit_tasks
from sim.backends.task_estimate import check_plan_budget
from sim.backends.timeline import Timeline
from sim.config import RunConfig, StrategyName, TransformerWorkload
from sim.energy import count_plan, count_tasks
from sim.errors import ConfigError
from sim.gcpause import paused_gc
from sim.ir import OpGraph, Role, TaskGraph
from sim.ir.plan import LoweringPlan
from sim.mapper import choose, needs_search
from sim.network.from_config import Interconnect, build_interconnect
from sim.registry import Registry
from sim.results import Estimate, Result, RunResult
from sim.schedule import apply_strategy, build_plan
from sim.schedule.capacity import check_groups_fit
from sim.workload import build_workload

__all__ = ["BACKENDS", "Estimate", "Prepared", "Result", "RunResult", "check_backend",
           "check_fits",
           "prepare", "rewritten", "simulate", "simulate_tasks", "weight_bytes",
           "workload_bits"]


def workload_bits(workload: object) -> dict[str, int]:
    """Bits per stored weight and per activation element of ``workload``."""
    if isinstance(workload, TransformerWorkload):
        return {"weight": workload.weight_bits, "activation": workload.activation_bits}
    return {"weight": 8, "activation": 16}


def weight_bytes(graph: OpGraph, bits: dict[str, int]) -> int:
    """Bytes of every linear's stationary weights and bias in ``graph``."""
    elems = sum(op.attrs.get("weight_elems", 0) + op.attrs.get("bias_elems", 0)
                for op in graph.ops if op.role == Role.LINEAR)
    return -(-elems * bits["weight"] // 8)


def rewritten(config: RunConfig, strategy: StrategyName | None = None) -> OpGraph:
    """The workload's OpGraph rewritten by ``strategy`` (default: the config's)."""
    return apply_strategy(build_workload(config.workload), strategy or config.strategy).graph


@dataclass(frozen=True)
class Prepared:
    """A run up to its plan: the config, the strategy, the rewritten graph, the
    plan, the interconnect it will run on, and when preparing began."""

    config: RunConfig
    strategy: StrategyName
    graph: OpGraph
    plan: LoweringPlan
    interconnect: Interconnect
    began: float

    def tilings(self) -> dict[str, str]:
        """The mapping's tiling of each linear (``columns``, ``rows`` or ``2d RxC``)."""
        return {op: t.label() for op, t in self.plan.tilings.items()}

    def norm_stats(self) -> dict[str, str]:
        """Where each token norm computes its statistics (``local`` or ``collective``)."""
        return dict(self.plan.norm_stats)

    def emit(self, collectives: CollectiveMode) -> TaskGraph:
        """The plan's tasks with ``collectives`` (``hops`` or ``closed_form``)."""
        return emit_tasks(self.plan, self.config.machine, self.interconnect,
                          collectives).taskgraph


def prepare(config: RunConfig, strategy: StrategyName | None = None,
            interconnect: Interconnect | None = None) -> Prepared:
    """Build, rewrite and plan ``config`` under ``strategy`` (default: the config's);
    mapping decisions left to ``auto`` are searched first (`sim.mapper.choose`).

    Raises
    ------
    CapacityError, GraphError, ConfigError
        If the workload does not fit, a pass or the mapping rejects the graph, or
        the config names something that does not exist. A workload that cannot
        fit whatever the mapping does is rejected before the graph is lowered or
        searched (`sim.schedule.capacity`: a layer group's bytes against its SRAM).
    """
    began = time.perf_counter()
    chosen = StrategyName(strategy or config.strategy)
    blocks = _repeated_blocks(config)
    if blocks is not None:  # capacity first, from one block: milliseconds, not the lowering
        check_fits(config, chosen)
    graph = rewritten(config, chosen)
    if blocks is None:
        check_groups_fit(graph, config.machine, config.schedule, workload_bits(config.workload))
    net = interconnect or build_interconnect(config.machine)
    choice = choose(config, chosen, graph, net) if needs_search(config) else None
    plan = build_plan(graph, config.machine, config.schedule, workload_bits(config.workload),
                      choice)
    return Prepared(config, chosen, graph, plan, net, began)


def _repeated_blocks(config: RunConfig) -> int | None:
    """How many identical decoder blocks ``config``'s workload has, if more than one."""
    workload = config.workload
    if not isinstance(workload, TransformerWorkload):
        return None
    blocks = workload.layers or workload.model.num_layers
    return blocks if blocks > 1 else None


def _one_block(config: RunConfig) -> RunConfig:
    """``config`` with its transformer cut to one decoder block."""
    return config.model_copy(update={"workload": config.workload.model_copy(
        update={"layers": 1})})


def check_fits(config: RunConfig, strategy: StrategyName | None = None) -> None:
    """Raise `CapacityError` if ``config`` under ``strategy`` cannot fit SRAM whatever
    the mapping does (`sim.schedule.capacity`), before anything is lowered: a
    transformer is read from one decoder block (milliseconds), other workloads
    whole. `prepare` does this first; call it to fail before building anything
    else (an interconnect).

    Raises
    ------
    CapacityError
        Naming the layer group's cores and the bytes they must hold.
    """
    chosen = StrategyName(strategy or config.strategy)
    blocks = _repeated_blocks(config)
    one = config if blocks is None else _one_block(config)
    check_groups_fit(rewritten(one, chosen), config.machine, config.schedule,
                     workload_bits(config.workload), blocks)


def _task_run(prepared: Prepared, collectives: CollectiveMode, backend: str,
              run: Callable[[TaskGraph], Timeline]) -> RunResult:
    config = prepared.config
    if collectives == "hops":  # closed-form collectives are a few tasks a core
        check_plan_budget(prepared.plan, config, prepared.interconnect)
    lowered = emit_tasks(prepared.plan, prepared.config.machine, prepared.interconnect,
                         collectives)
    timed = time.perf_counter()
    timeline = run(lowered.taskgraph)
    backend_seconds = time.perf_counter() - timed
    breakdown = attribute_critical_path(lowered.taskgraph, timeline)
    bits = workload_bits(prepared.config.workload)
    energy = (count_tasks(lowered.taskgraph, prepared.plan, prepared.config.machine,
                          prepared.interconnect, bits) if collectives == "hops" else
              count_plan(prepared.plan, prepared.config.machine, prepared.interconnect, bits))
    return RunResult(prepared.config, prepared.strategy, lowered.taskgraph, timeline, breakdown,
                     lowered.closed_form_cycles, lowered.op_purpose,
                     wall_seconds=time.perf_counter() - prepared.began, backend=backend,
                     backend_seconds=backend_seconds, interconnect=prepared.interconnect,
                     tilings=prepared.tilings(), norm_stats=prepared.norm_stats(),
                     memory_bytes=dict(prepared.plan.tier_bytes), energy=energy)


#: A backend: reads a prepared plan (``tasks``: a task-level result is needed).
BackendRun = Callable[[Prepared, bool], Result]
#: The timing backends (module docstring), by name.
BACKENDS = Registry[BackendRun]("backend")


@BACKENDS.register("des")
def _des(prepared: Prepared, tasks: bool) -> Result:
    return _task_run(prepared, "hops", "des", run_des)


def _warning(prepared: Prepared, latency: int, critical: dict[str, int]) -> str | None:
    return analytic_warning(prepared.plan, prepared.config.machine, prepared.interconnect,
                            latency, critical)


@BACKENDS.register("analytic")
def _analytic(prepared: Prepared, tasks: bool) -> Result:
    if not tasks:
        state = evaluate(prepared.plan, prepared.config.machine, prepared.interconnect)
        if state is not None:
            breakdown, critical = array_breakdown(state.batches)
            latency = latency_cycles(state.batches)
            result = Estimate(prepared.config, prepared.strategy, latency,
                              breakdown, critical, dict(prepared.plan.purposes),
                              event_count(state.batches), state.task_count,
                              wall_seconds=time.perf_counter() - prepared.began,
                              analytic_warning=_warning(prepared, latency, critical),
                              tilings=prepared.tilings(), norm_stats=prepared.norm_stats(),
                              memory_bytes=dict(prepared.plan.tier_bytes),
                              energy=count_plan(prepared.plan, prepared.config.machine,
                                                prepared.interconnect,
                                                workload_bits(prepared.config.workload)))
            state.batches.clear()  # op batches refer to this list: no cycle for the collector
            return result
    run = _task_run(prepared, "closed_form", "analytic", run_analytic)
    return replace(run, analytic_warning=_warning(prepared, run.latency_cycles,
                                                  run.cycles_by_op()))


def check_backend(name: str, key: str = "--backend", also: tuple[str, ...] = ()) -> str:
    """``name`` if it is a backend (or one of ``also``); else a ConfigError naming
    ``key`` and listing the choices."""
    choices = (*BACKENDS.names(), *also)
    if name not in choices:
        raise ConfigError(f"{key}: unknown backend {name!r} (choose from {', '.join(choices)})")
    return name


@paused_gc()  # many short-lived objects: collection passes would cost more than the work
def simulate(config: RunConfig, strategy: StrategyName | None = None,
             interconnect: Interconnect | None = None, backend: str = "des", *,
             tasks: bool = False) -> Result:
    """Run ``config`` under ``strategy`` (default: the config's own) on ``backend``.

    ``interconnect`` may be shared between runs on the same machine. ``tasks``:
    return a task-level `RunResult` (op table, timeline, traffic) whichever
    backend runs; otherwise the analytic backend returns an `Estimate` from its
    arrays where it can. ``wall_seconds`` covers building, planning and the
    backend; ``backend_seconds`` (task runs) only the backend.

    Raises
    ------
    ConfigError
        If ``backend`` is not a backend (the message lists them).
    CapacityError, GraphError
        As `prepare` does.
    """
    run = BACKENDS.get(backend, "backend")
    return run(prepare(config, strategy, interconnect), tasks)


def simulate_tasks(config: RunConfig, strategy: StrategyName | None = None,
                   interconnect: Interconnect | None = None, backend: str = "des") -> RunResult:
    """`simulate` with ``tasks=True``: the task-level `RunResult` reports draw from."""
    result = simulate(config, strategy, interconnect, backend, tasks=True)
    if not isinstance(result, RunResult):  # pragma: no cover - every backend honours tasks
        raise TypeError(f"backend {backend!r} returned no task-level result")
    return result
