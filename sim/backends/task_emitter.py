"""The task emitter: a LoweringPlan read as a TaskGraph.

Every op step becomes one task per (core, tile) on the core's matmul engine or
SIMD unit, with the plan's cost-model cycles; a task waits for what its
inputs bring to its core and tile (`sim.ir.plan.Input`). Movement steps
become tasks in one of two modes (``collectives``):

- ``hops`` (what the DES runs): every message hop a task on its directed link
  (`sim.network.collectives.append_collective`, `append_message`), so links
  contend;
- ``closed_form`` (the analytic backend, task by task): a collective starts
  when the last participant's contribution is ready, and each core that ends
  with the result has it after its own uncontended closed-form latency
  (`collective_done_cycles`; one task per distinct latency, behind a zero-time
  start task when there are several), on private ``closed_form`` engines; a
  layer-to-layer message takes its uncontended message time. Links, NICs and
  the SIMD combines of a reduction are then not modelled, so nothing contends
  with communication; compute tasks are the same as with hops.

Tasks are numbered step by step in plan order: the program order the DES uses
to break ties.

Fan-ins become joins (`sim.ir.taskgraph`): where many tasks wait for the same
set of tasks (every participant of a collective for all of a source's tasks,
every core that did not receive for all arrivals, every tile of a core for all
of the core's inputs), they wait for one join of the set instead, once the join
at least halves the edges (`_joined`). A join is no task: task numbering, every
timing, event count and critical path are what they are without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import Literal

import numpy as np

from sim.backends.collective_profile import (
    ClosedFormShape,
    collective_profile,
    combine_rounds,
    step_shapes,
)
from sim.backends.collective_profile import Request as Request_
from sim.backends.lpddr_streams import Streams
from sim.config import MachineConfig
from sim.gcpause import paused_gc
from sim.ir import Category, Engine, EngineKind, OpKind, TaskGraph, TaskTable
from sim.ir.plan import (
    CollectiveStep,
    Contribution,
    Input,
    LoweringPlan,
    MessageStep,
    MoveStep,
    OpStep,
    Purpose,
    Request,
    ViewRef,
)
from sim.ir.taskgraph import join_ref
from sim.network.collectives import append_collective
from sim.network.from_config import Interconnect, collective_options
from sim.network.problem import CollectiveOptions
from sim.network.transport import append_message, message_latency_cycles

__all__ = ["CollectiveMode", "Lowered", "combine_lane_name", "emit_tasks"]

#: How collectives become tasks: ``hops`` (every message hop on its link) or
#: ``closed_form`` (contention-free tasks of the closed-form latencies).
CollectiveMode = Literal["hops", "closed_form"]

View = dict[int, list[int]]  # core -> task indices holding the data there
Deps = dict[tuple[int, int], list[int]]  # (core, tile) -> task indices


def combine_lane_name(purpose: str, core: int) -> str:
    """The name of ``core``'s combine lane for collectives serving ``purpose``."""
    return f"closed_form.combine.{purpose}.core{core}"


@dataclass(frozen=True)
class Lowered:
    """A plan read as tasks: its TaskGraph, the interconnect it runs on, the
    uncontended closed-form latency of every collective op of the workload, and
    the purpose of ops that serve normalization or move data, keyed by the
    ``op`` of their tasks (`sim.ir.plan.Purpose`)."""

    taskgraph: TaskGraph
    interconnect: Interconnect
    closed_form_cycles: dict[str, int]
    op_purpose: dict[str, Purpose]


def _sorted_unique(deps: list[int]) -> list[int]:
    """``deps`` ascending without repeats (itself when it already is)."""
    if all(a < b for a, b in pairwise(deps)):
        return deps
    return sorted(set(deps))


def _ascending(deps: set[int]) -> list[int]:
    """``deps`` as an ascending list (``sorted``, without its cost for one or none)."""
    return list(deps) if len(deps) < 2 else sorted(deps)


def _all_tasks(view: View) -> list[int]:
    """Every task index in ``view``, ascending, without repeats."""
    return sorted({i for tasks in view.values() for i in tasks})


class _Emitter:
    """Reads one plan into tasks (state of a single `emit_tasks` call)."""

    def __init__(self, plan: LoweringPlan, machine: MachineConfig, net: Interconnect,
                 collectives: CollectiveMode) -> None:
        self.plan, self.machine, self.net = plan, machine, net
        self.closed_form = collectives == "closed_form"
        self.tasks = TaskTable()
        self.private_engines: list[Engine] = []  # one per closed-form task
        self.views: dict[ViewRef, View] = {}
        self.closed_forms: dict[str, int] = {}
        self._options: dict[tuple[str, int | None, int], CollectiveOptions] = {}
        self._lanes: dict[tuple[int, str], int] = {}  # (core, purpose) -> its lane
        self.joins: list[tuple[int, ...]] = []
        self._join_of: dict[tuple[int, ...], int] = {}  # members -> their join's id
        self.streams = Streams(machine, self.tasks, self._private_engine)

    def run(self) -> None:
        for index, step in enumerate(self.plan.steps):
            if isinstance(step, OpStep):
                self.views[ViewRef(index)] = self._op(step)
            elif isinstance(step, MoveStep):
                self._moves(index, step)
            elif isinstance(step, MessageStep):
                self.views[ViewRef(index)] = self._messages(step)
            else:
                self.views[ViewRef(index)] = self._workload_collective(step)

    def _options_of(self, reduce_op: str, root: int | None, arity: int) -> CollectiveOptions:
        key = (reduce_op, root, arity)
        got = self._options.get(key)
        if got is None:
            got = self._options[key] = collective_options(
                self.machine, reduce_op=reduce_op, root=root, arity=arity)
        return got

    def _joined(self, deps: list[int], consumers: int) -> list[int]:
        """``deps`` (ascending, no repeats) as ``consumers`` tasks should list them:
        the deps themselves, or one join of them if that at least halves the edges
        (``m * k`` direct against ``m + k`` through a join); equal sets share a join."""
        size = len(deps)
        if consumers < 2 or size * consumers < 2 * (size + consumers):
            return deps
        members = tuple(deps)
        ref = self._join_of.get(members)
        if ref is None:
            ref = self._join_of[members] = join_ref(len(self.joins))
            self.joins.append(members)
        return [ref]

    # ---------------------------------------------------------------- movement
    def _contributions(self, request: Request, shared: bool = False) -> View:
        """Per participant, the tasks whose results it contributes (``shared``: a
        contribution of all the source's tasks to every participant as one join,
        `_joined`, when each participant's tasks wait for it)."""
        contribution: Contribution = request.contribution
        view = self.views[contribution.source]
        if contribution.elements is not None:
            step = self.plan.steps[contribution.source.step]
            if not isinstance(step, OpStep):
                raise TypeError("elements select from an op step only")
            deps: View = {}
            for element in contribution.elements.tolist():
                piece, tile = divmod(element, step.tiles)
                core = step.cores[piece]
                deps.setdefault(core, []).append(view[core][tile])
            return deps
        if contribution.per_core:
            return view
        every = _all_tasks(view)
        if shared:
            every = self._joined(every, len(request.cores))
        return dict.fromkeys(request.cores, every)

    def _moves(self, index: int, step: MoveStep) -> None:
        if self.closed_form:
            self._closed_form_moves(index, step)
            return
        merged: View = {}
        for k, request in enumerate(step.requests):
            deps = self._contributions(request, shared=True)
            cores = request.cores
            if len(cores) == 1:
                done = {cores[0]: sorted(deps.get(cores[0], []))}
            else:
                options = self._options_of(step.reduce_op, request.root, step.arity)
                result = append_collective(
                    self.tasks, self.net.router, self.net.engines, step.kind,
                    step.algorithm, cores, request.nbytes, options=options,
                    deps={c: tuple(sorted(set(deps[c]))) for c in cores if deps.get(c)},
                    name=request.name)
                done = {c: list(d) or sorted(deps.get(c, []))
                        for c, d in result.done.items()}
            self.views[ViewRef(index, k)] = done
            merged.update(done)
        self.views[ViewRef(index)] = merged

    def _messages(self, step: MessageStep) -> View:
        out = self.views[ViewRef(step.producer)]
        moved: View = {}
        for src, dst, nbytes, name in zip(step.src_cores, step.dst_cores, step.nbytes,
                                          step.names, strict=True):
            if self.closed_form:
                latency = message_latency_cycles(self.net.router, src, dst, nbytes)
                moved[dst] = [self._closed_form_task(name, latency, out[src], op=step.op)]
            else:
                moved[dst] = [append_message(self.tasks, self.net.router, self.net.engines,
                                             src, dst, nbytes, tuple(out[src]), name=name,
                                             op=step.op)]
        return moved

    def _closed_form_moves(self, index: int, step: MoveStep) -> None:
        """A movement step's collectives as closed-form tasks (`_closed_form_collectives`)."""
        views: dict[int, View] = {}
        moving: list[tuple[int, str, Request_, list[int]]] = []
        for k, request in enumerate(step.requests):
            deps = self._contributions(request)
            if len(request.cores) == 1:
                views[k] = {request.cores[0]: sorted(deps.get(request.cores[0], []))}
                continue
            options = self._options_of(step.reduce_op, request.root, step.arity)
            every = [i for c in request.cores for i in deps.get(c, ())]  # the task sorts them
            moving.append((k, request.name, Request_(step.kind, step.algorithm, request.cores,
                                                      request.nbytes, options), every))
        done = self._closed_form_collectives([(n, r, e) for _, n, r, e in moving],
                                             step.reduce_op, step.purpose.value)
        views.update((k, view) for (k, *_), view in zip(moving, done, strict=True))
        merged: View = {}
        for k in range(len(step.requests)):
            self.views[ViewRef(index, k)] = views[k]
            merged.update(views[k])
        self.views[ViewRef(index)] = merged

    def _closed_form_collectives(self, requests: list[tuple[str, Request_, list[int]]],
                                 reduce_op: str, purpose: str = "") -> list[View]:
        """Collectives run together as closed-form tasks, all of collective j waiting
        for its ``deps`` (every contribution); return each one's view.

        Shapes come from `sim.backends.collective_profile.step_shapes`. A collective
        without combines is one private task per distinct arrival cycle, behind a
        zero-time start task when there are several. One with combines: (A) a start
        task; (B) per combining core its combine block on the core's combine lane
        (`_combine_lane`), ready at the start, the step's round by round
        (`combine_rounds`); (C) per block a
        private tail to the first arrival (from the block's uncontended end, its first
        combine's start plus its length: a block late by no more than that start
        delays nothing), a
        private wait of the first arrival from the start, a zero-time join of those
        (the first arrival) and one task per later arrival cycle after it. Tasks are
        numbered A (every collective), B, C (the combining ones): what
        `sim.backends.arrays` reproduces.
        """
        if not requests:
            return []
        _, shapes = step_shapes(self.net.router, self.net.engines, [r for _, r, _ in requests])
        views: list[View | None] = [None] * len(requests)
        combining: list[tuple[int, int, list[int]]] = []  # (j, start task, wait tasks)
        for j, ((name, _, deps), shape) in enumerate(zip(requests, shapes, strict=True)):
            if not shape.combines:
                views[j] = self._arrivals(name, shape, deps)
                continue
            start = self._closed_form_task(f"{name}.start", 0, deps, op=name)
            combining.append((j, start, [start] * shape.combine_cores.size))
        rounds = combine_rounds([shapes[j] for j, _, _ in combining])
        blocks: dict[tuple[int, int], int] = {}
        for now in range(max((int(r.max()) + 1 for r in rounds if r.size), default=0)):
            for (j, _, waits), got in zip(combining, rounds, strict=True):
                name, shape = requests[j][0], shapes[j]
                for i in np.flatnonzero(got == now).tolist():
                    core = int(shape.combine_cores[i])
                    blocks[j, i] = self.tasks.add(
                        f"{name}.{reduce_op}.{core}", name, 0, self._combine_lane(core, purpose),
                        int(shape.combine_cycles[i]), 0, Category.SIMD, (waits[i],))
        for j, start, _ in combining:
            name, shape = requests[j][0], shapes[j]
            tails = [self._closed_form_task(f"{name}.tail@c{c}", t, [blocks[j, i]], op=name)
                     for i, (c, t) in enumerate(zip(shape.combine_cores.tolist(),
                                                    shape.tails.tolist(), strict=True))]
            first = int(shape.cycles[0])
            wait = self._closed_form_task(f"{name}.first", first, [start], op=name)
            join = self._closed_form_task(name, 0, [*tails, wait], op=name)
            task = [join] + [self._closed_form_task(f"{name}@{c}cy", c - first, [join], op=name)
                             for c in shape.cycles[1:].tolist()]
            views[j] = {int(core): [task[w]] for core, w in
                        zip(shape.cores.tolist(), shape.which.tolist(), strict=True)}
        return [v for v in views if v is not None]

    def _combine_lane(self, core: int, purpose: str) -> int:
        """The engine of ``core``'s combine blocks for collectives serving ``purpose``.

        Assumption (README, model section): the blocks queue on a lane of their own
        per core and purpose (`sim.ir.plan.Purpose`), not on the core's SIMD unit
        with compute (where the DES runs the combines): the blocks of collectives of
        one purpose running together on one core follow each other, but compute and
        other purposes' blocks do not wait for them. On one unit they would
        interleave out of program order, which the array reader cannot evaluate."""
        lane = self._lanes.get((core, purpose))
        if lane is None:
            lane = len(self.net.engines.engines) + len(self.private_engines)
            self._lanes[core, purpose] = lane
            self.private_engines.append(Engine(combine_lane_name(purpose, core),
                                               EngineKind.CLOSED_FORM, core))
        return lane

    def _arrivals(self, name: str, shape: ClosedFormShape, deps: list[int]) -> View:
        """A collective without combines: one task per distinct arrival cycle, behind
        a zero-time start task (joining the contributions once) when there are several."""
        cycles = shape.cycles.tolist()
        if len(cycles) > 1:
            deps = [self._closed_form_task(f"{name}.start", 0, deps, op=name)]
        task = [self._closed_form_task(name if len(cycles) == 1 else f"{name}@{c}cy", c, deps,
                                       op=name) for c in cycles]
        return {int(core): [task[w]] for core, w in
                zip(shape.cores.tolist(), shape.which.tolist(), strict=True)}

    def _closed_form_task(self, name: str, latency_cycles: int, deps: list[int],
                          op: str | None = None) -> int:
        """Append one communication task of ``latency_cycles`` on its own private
        engine (nothing contends with it); return its index."""
        engine = len(self.net.engines.engines) + len(self.private_engines)
        self.private_engines.append(Engine(f"closed_form.{name}", EngineKind.CLOSED_FORM, None))
        return self.tasks.add(name, op or name, 0, engine, latency_cycles, 0,
                              Category.COMMUNICATION, sorted(set(deps)))

    def _workload_collective(self, step: CollectiveStep) -> View:
        options = self._options_of(step.reduce_op, step.root, step.arity)
        if self.closed_form:
            request = Request_(step.kind, step.algorithm, step.cores, step.nbytes, options)
            self.closed_forms[step.name] = collective_profile(
                self.net.router, self.net.engines, step.kind, step.algorithm, step.cores,
                step.nbytes, options).closed_form_cycles
            return self._closed_form_collectives([(step.name, request, [])], step.reduce_op)[0]
        result = append_collective(self.tasks, self.net.router, self.net.engines, step.kind,
                                   step.algorithm, step.cores, step.nbytes, options=options,
                                   name=step.name)
        self.closed_forms[step.name] = result.latency_cycles
        return {c: list(d) for c, d in result.done.items()}

    # ---------------------------------------------------------------- ops
    def _input_deps(self, source: Input, step: OpStep) -> Deps:
        """For every (core, tile) of ``step``, the tasks it waits for along ``source``."""
        tiles = step.tiles
        views = None if source.views is None else [self.views[v] for v in source.views]
        own = self.views[ViewRef(source.source)]
        deps: Deps = {}
        everything: dict[int, list[int]] = {}  # view (-1: the producer's own) -> all its tasks
        shared: dict[int, list[tuple[int, int]]] = {}  # id of a list -> the keys reading it
        for core in step.cores:
            for tile in range(tiles):
                if views is not None:
                    at = tile if len(views) > 1 else 0
                    got = views[at].get(core)
                    if got is None:  # this core did not receive: wait for all arrivals
                        got = everything.get(at)
                        if got is None:
                            got = everything[at] = _all_tasks(views[at])
                else:
                    local = own.get(core)
                    if local is None:
                        got = everything.get(-1)
                        if got is None:
                            got = everything[-1] = _all_tasks(own)
                    elif source.tile_edge and len(local) == tiles:
                        got = [local[tile]]
                    else:
                        got = local
                if len(got) > 1:
                    shared.setdefault(id(got), []).append((core, tile))
                deps[core, tile] = got
        for keys in shared.values():  # a fan-in: every key reads the same list
            got = self._joined(_sorted_unique(deps[keys[0]]), len(keys))
            for key in keys:
                deps[key] = got
        return deps

    def _op(self, step: OpStep) -> View:
        tiles = step.tiles
        deps: Deps = {(core, t): [] for core in step.cores for t in range(tiles)}
        for source in step.inputs:
            for key, got in self._input_deps(source, step).items():
                deps[key].extend(got)
        if step.card_lpddr:  # a read out of LPDDR: on the card's engine, after its inputs
            return {core: [self.streams.read(step, core, which, sorted(set(deps[core, 0])))]
                    for core, which in zip(step.cores, step.which, strict=True)}
        engines = self.net.engines.matmul if step.kind is OpKind.MATMUL else self.net.engines.simd
        out: View = {}
        add, name, category, tiled = self.tasks.add_core_tiles, step.name, step.category, tiles > 1
        for core, which in zip(step.cores, step.which, strict=True):
            engine = engines[core]  # named op@cCORE[TILE] when asked (`sim.ir.task_table`)
            first = [self.streams.start(step, core, which)] if step.lpddr_bytes else []
            start = add(name, engine, step.occupancy_cycles[which],
                        step.result_latency_cycles[which], category,
                        [_ascending({*deps[core, tile], *first}) for tile in range(tiles)],
                        tiled=tiled)
            out[core] = list(range(start, start + tiles))
            if first:  # the piece's result: its tiles' and its stream's last bytes
                out[core] = [self.streams.finish(step, core, out[core])] * tiles
        return out

    def _private_engine(self, engine: Engine) -> int:
        """Add ``engine`` after the interconnect's; return its index."""
        self.private_engines.append(engine)
        return len(self.net.engines.engines) + len(self.private_engines) - 1


@paused_gc()  # tasks and views are acyclic: no collection passes meanwhile
def emit_tasks(plan: LoweringPlan, machine: MachineConfig, interconnect: Interconnect,
               collectives: CollectiveMode = "hops") -> Lowered:
    """The TaskGraph of ``plan`` on ``interconnect``, collectives as ``collectives``
    (module docstring).

    Raises
    ------
    GraphError
        If the tasks break the TaskGraph's invariants (a bug in a reader or plan).
    """
    emitter = _Emitter(plan, machine, interconnect, collectives)
    emitter.run()
    taskgraph = TaskGraph.from_table(
        interconnect.engines.engines + tuple(emitter.private_engines), emitter.tasks,
        tuple(emitter.joins))
    taskgraph.validate("mapping")
    return Lowered(taskgraph, interconnect, emitter.closed_forms, dict(plan.purposes))
