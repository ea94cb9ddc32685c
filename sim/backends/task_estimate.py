"""How many tasks a plan will emit, and the memory they take, before emitting any.

`estimate_tasks` reads a `LoweringPlan` the way the task emitter
(`sim.backends.task_emitter`, ``hops`` mode: what the DES runs) does, counting
instead of appending:

- an op step: ``pieces x tiles`` tasks, plus 3 a piece that streams from LPDDR
  (the stream, its tail, the join: `sim.backends.lpddr_streams`); a read out of
  LPDDR (the embedding) 1 a piece;
- a layer-to-layer message: ``packets x hops`` of its route, plus the inject
  task when ``machine.network.endpoint_overhead_cycles`` is not 0;
- a collective: what its algorithm's schedule sends, multicasts and combines,
  recorded without playing it (`sim.network.replay`'s recorder; a schedule that
  appended tasks other than through the emitter would be appended to a scratch
  list). A collective moved
  by the machine's symmetry (`sim.network.symmetry.canonical_shift`) is counted
  once on its canonical copy. **Assumption**: a moved copy has the canonical
  copy's count (its routes have the same hops); the count is then an estimate,
  exact wherever the machine is symmetric (tested against emission).

A quick count (``exact=False``) also takes any translation of a counted member
set (the same offsets between cores) to emit alike: on the 70B decode layer 0.2 s
against 2.2 s, up to 18% over. `check_plan_budget` lets it decide far from the
limit only.

Memory: `BYTES_PER_TASK` a task, the peak measured end to end (plan, emission,
DES, critical path) with ``benchmarks/model_memory.py`` on Llama-3-70B × 80
layers (9.5 M tasks, 340 B a task). Nothing here is timed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace

from sim.config import MachineConfig, RunConfig
from sim.errors import TaskBudgetError
from sim.ir import Task
from sim.ir.plan import CollectiveStep, LoweringPlan, MessageStep, MoveStep, OpStep
from sim.network.collectives import append_collective
from sim.network.from_config import Interconnect, collective_options
from sim.network.problem import CollectiveOptions, make_problem
from sim.network.replay import Recorder, RecordingRefusedError
from sim.network.symmetry import canonical_shift
from sim.network.transport import packet_sizes

__all__ = ["BYTES_PER_TASK", "DRIVERS", "TaskEstimate", "check_plan_budget", "check_task_budget",
           "collective_tasks", "estimate_tasks"]

#: Peak bytes a task end to end (module docstring): 340 measured, on 70B x 80 layers.
BYTES_PER_TASK = 340


@dataclass(frozen=True)
class TaskEstimate:
    """Tasks a plan emits in ``hops`` mode, by what they are (``op tiles``,
    ``LPDDR streams``, ``layer messages``, ``collectives``)."""

    tasks_by_kind: dict[str, int]

    @property
    def tasks(self) -> int:
        """Every task."""
        return sum(self.tasks_by_kind.values())

    @property
    def memory_bytes(self) -> int:
        """The peak memory they take, at `BYTES_PER_TASK` a task."""
        return self.tasks * BYTES_PER_TASK


def _shifted(options: CollectiveOptions, shift_cores: int) -> CollectiveOptions:
    return options if options.root is None else replace(options, root=options.root + shift_cores)


def collective_tasks(net: Interconnect, kind: str, algorithm: str, cores: tuple[int, ...],
                     nbytes: int, options: CollectiveOptions, exact: bool = True) -> int:
    """Tasks one collective appends (module docstring), remembered by the router;
    not ``exact``: as many as the first counted translation of its members (the same
    offsets between cores, the root moved alike), a quick count.

    Raises
    ------
    ConfigError
        For a bad request (`sim.network.problem.make_problem`).
    """
    router = net.router
    shift = canonical_shift(router, cores)
    if shift:
        cores, options = tuple(c - shift for c in cores), _shifted(options, -shift)
    first = 0 if exact else cores[0]
    key = ("task_count", exact, kind, algorithm, tuple(c - first for c in cores), nbytes,
           _shifted(options, -first))
    got = router.remembered(key)
    if got is not None:
        return int(got)
    problem = make_problem(router, kind, algorithm, cores, nbytes, options)
    recorder = Recorder(problem, net.engines)
    try:
        recorder.record()
        count = recorder.count
    except RecordingRefusedError:  # the algorithm appends tasks of its own: append them
        scratch: list[Task] = []
        append_collective(scratch, router, net.engines, kind, algorithm, cores, nbytes,
                          options=options)
        count = len(scratch)
    router.remember(key, count)
    return count


def _op_tasks(step: OpStep) -> tuple[str, int, int]:
    pieces = len(step.cores)
    if step.card_lpddr:
        return "op tiles", pieces, 0
    return "op tiles", pieces * step.tiles, 3 * pieces if step.lpddr_bytes else 0


def estimate_tasks(plan: LoweringPlan, machine: MachineConfig, net: Interconnect,
                   exact: bool = True) -> TaskEstimate:
    """The tasks ``plan`` emits on ``net`` with hop-level collectives (module docstring);
    not ``exact``: collectives counted as `collective_tasks` does then (quicker)."""
    counts: Counter[str] = Counter()
    router = net.router
    inject = int(router.endpoint_overhead_cycles > 0)
    options: dict[tuple[str, int | None, int], CollectiveOptions] = {}

    def options_of(reduce_op: str, root: int | None, arity: int) -> CollectiveOptions:
        key = (reduce_op, root, arity)
        if key not in options:
            options[key] = collective_options(machine, reduce_op=reduce_op, root=root,
                                              arity=arity)
        return options[key]

    for step in plan.steps:
        if isinstance(step, OpStep):
            kind, tiles, streams = _op_tasks(step)
            counts[kind] += tiles
            counts["LPDDR streams"] += streams
        elif isinstance(step, MessageStep):
            counts["layer messages"] += sum(
                inject + len(packet_sizes(n, None)) * router.route(s, d).hops
                for s, d, n in zip(step.src_cores, step.dst_cores, step.nbytes, strict=True))
        elif isinstance(step, MoveStep):
            counts["collectives"] += sum(
                collective_tasks(net, step.kind, step.algorithm, r.cores, r.nbytes,
                                 options_of(step.reduce_op, r.root, step.arity), exact)
                for r in step.requests if len(r.cores) > 1)
        elif isinstance(step, CollectiveStep):
            counts["collectives"] += collective_tasks(
                net, step.kind, step.algorithm, step.cores, step.nbytes,
                options_of(step.reduce_op, step.root, step.arity), exact)
    return TaskEstimate({k: v for k, v in counts.items() if v})


#: The config keys that drive each kind of task, named when a run is refused.
DRIVERS: dict[str, tuple[str, ...]] = {
    "op tiles": ("workload.layers", "workload.batch", "workload.seq_len",
                 "schedule.cores_per_layer", "schedule.max_tiles_per_op"),
    "LPDDR streams": ("workload.layers", "machine.memory.sram_bytes_per_core"),
    "layer messages": ("workload.layers", "schedule.cores_per_layer"),
    "collectives": ("workload.layers", "schedule.cores_per_layer",
                    "schedule.gather_algorithm", "schedule.reduction_algorithm",
                    "machine.network.max_packet_bytes"),
}


def _value(config: RunConfig, key: str) -> object:
    node: object = config
    for part in key.split("."):
        node = getattr(node, part, None)
    return node


def _size(nbytes: int) -> str:
    return f"{nbytes / 1e9:.1f} GB" if nbytes >= 1e9 else f"{nbytes / 1e6:.0f} MB"


def check_plan_budget(plan: LoweringPlan, config: RunConfig, net: Interconnect) -> None:
    """Raise `TaskBudgetError` if ``plan`` would emit more than ``limits.max_tasks``.

    The quick count (``exact=False``) decides when it is under half the limit
    (assumption: translated member sets emit within a factor 2 alike; measured up to
    18% apart on the bundled configs); nearer, the exact count decides and is the
    one a refusal names.
    """
    quick = estimate_tasks(plan, config.machine, net, exact=False)
    if 2 * quick.tasks > config.limits.max_tasks:
        check_task_budget(estimate_tasks(plan, config.machine, net), config)


def check_task_budget(estimate: TaskEstimate, config: RunConfig) -> None:
    """Raise if ``estimate`` is above ``config.limits.max_tasks``.

    Raises
    ------
    TaskBudgetError
        One line: how many tasks of which kinds, the limit, and the keys (with
        their values) that drive the largest kind.
    """
    limit = config.limits.max_tasks
    if estimate.tasks <= limit:
        return
    kinds = sorted(estimate.tasks_by_kind.items(), key=lambda kv: -kv[1])
    keys = [f"{k}={_value(config, k)}" for k in DRIVERS.get(kinds[0][0], ())
            if _value(config, k) is not None]
    raise TaskBudgetError(
        f"limits.max_tasks: this run would emit about {estimate.tasks:,} tasks "
        f"(~{_size(estimate.memory_bytes)}; "
        + ", ".join(f"{kind} {n:,}" for kind, n in kinds)
        + f"), above the limit of {limit:,}; {kinds[0][0]} grow with "
        + ", ".join(keys) + ": lower one, run --backend analytic, or raise --max-tasks")
