"""The array evaluator: a LoweringPlan's closed-form schedule, step by step in numpy.

The task emitter with ``collectives="closed_form"`` builds one task per core
and tile, and `sim.backends.analytic` schedules them one at a time. This
reader evaluates the same plan with every step at once over all its cores
(`sim.backends.arrays.batches`): no task is built, yet every task's start,
release and result is known, and so is its index in the emitted graph.

It gives the schedule the analytic backend gives, under a condition it
checks: on every engine, the order in which it takes the tasks (op by op,
each op's tiles in the order they become ready) is the FIFO order, i.e. the
moments at which they become ready never go back. The same holds for each
card's shared LPDDR engine (streamed pieces: `sim.backends.arrays.streams`).
If that fails, or if the plan has work the arrays do not cover (a
``collective`` workload, a negative result latency), `evaluate` returns None:
emit the plan task by task instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.backends.arrays.batches import (
    NONE,
    ROUNDS,
    Arrivals,
    Batch,
    EdgeSource,
    MessageBatch,
    OpBatch,
    Part,
    Refs,
    cycle_of,
    latest_of,
)
from sim.backends.arrays.collectives import Emitted, after, collective_batches
from sim.backends.arrays.schedule import EngineState, schedule_batch
from sim.backends.arrays.streams import CardEngines, Streams
from sim.backends.collective_profile import Request as ProfileRequest
from sim.backends.collective_profile import step_shapes
from sim.config import MachineConfig
from sim.ir import Category, OpKind
from sim.ir.plan import (
    Input,
    LoweringPlan,
    MessageStep,
    MoveStep,
    OpStep,
    Request,
    ViewRef,
)
from sim.network.from_config import Interconnect, collective_options
from sim.network.problem import CollectiveOptions
from sim.network.transport import message_latency_cycles

__all__ = ["DeclinedError", "Evaluation", "evaluate"]


class DeclinedError(Exception):
    """The arrays cannot evaluate this plan exactly: emit it task by task."""


def _ints(values: object) -> np.ndarray:
    return np.asarray(values, dtype=np.int64)


@dataclass
class _Moved:
    """A movement step's results: the single-core requests' views (by request),
    the batch of the others (None if none) and each request's place in it."""

    singles: dict[int, Arrivals]
    emitted: Emitted | None
    order: dict[int, int]  # request -> its index among the emitted ones


def _latest_of_each(deps: list[list[Refs]]) -> np.ndarray:
    """`latest_of` for each entry of ``deps`` (at once when every entry is one
    equally long, non-empty slice of the same batch)."""
    if all(len(d) == 1 for d in deps) and len({id(d[0][0]) for d in deps}) == 1 \
            and len({d[0][1].size for d in deps}) == 1 and deps[0][0][1].size:
        batch = deps[0][0][0]
        return batch.visible[np.stack([d[0][1] for d in deps])].max(axis=1)
    return _ints([latest_of(d) for d in deps])


@dataclass
class Evaluation:
    """A plan evaluated in arrays: every batch in task order, the number of tasks
    the emitted graph would have, and the plan's purposes."""

    batches: list[Batch]
    task_count: int


class _Evaluator:
    """Reads one plan into batches (state of a single `evaluate` call)."""

    def __init__(self, plan: LoweringPlan, machine: MachineConfig, net: Interconnect) -> None:
        self.plan, self.machine, self.net = plan, machine, net
        self.total_cores = plan.total_cores
        self.batches: list[Batch] = []
        self.task_count = 0
        self.out: dict[int, OpBatch] = {}  # op step -> its batch
        self.moved: dict[int, _Moved] = {}
        self.arrivals: dict[ViewRef, Arrivals] = {}
        self.options: dict[tuple[str, int | None, int], CollectiveOptions] = {}
        self.arrays: dict[tuple[int, ...], np.ndarray] = {}
        self._member = np.zeros(self.total_cores, dtype=bool)  # `_among`'s table, kept clear
        self.engines = {kind: EngineState.idle(self.total_cores)
                        for kind in (OpKind.MATMUL, OpKind.SIMD)}
        self._lanes: dict[str, EngineState] = {}  # per purpose, the cores' combine lanes
        self.cards = CardEngines(machine, plan, self.total_cores, self._laid_out())
        self.streams = Streams(machine, self.cards, self.total_cores, self.batches)
        #: No task is ready before this moment (`sim.backends.arrays.staged`: a stage's
        #: barrier); NONE: tasks with no dependencies are ready at the start.
        self.floor = NONE

    def _laid_out(self) -> range:
        """The steps whose LPDDR opening streams `CardEngines` lays out at once from
        cycle 0: every step (a hook: a staged evaluation lays them out per stage)."""
        return range(len(self.plan.steps))

    def _enter(self, index: int) -> None:
        """Called before step ``index`` is evaluated (a hook for a staged evaluation)."""

    def run(self) -> None:
        """Evaluate every step.

        Raises
        ------
        DeclinedError
            If the arrays cannot give the analytic schedule (module docstring).
        """
        if not self.cards.valid:
            raise DeclinedError("a stream of no cycles")
        for index, step in enumerate(self.plan.steps):
            self._enter(index)
            if isinstance(step, OpStep):
                self.out[index] = self._op(index, step)
            elif isinstance(step, MoveStep):
                self._moves(index, step)
            elif isinstance(step, MessageStep):
                self.arrivals[ViewRef(index)] = self._messages(step)
            else:
                raise DeclinedError(f"{step.name}: collective workload")
        self.cards.finish(self.batches)
        if self.task_count >= ROUNDS - 1:  # a moment could not hold every round
            raise DeclinedError(f"{self.task_count} tasks: too many rounds for a moment")

    def _array(self, values: tuple[int, ...]) -> np.ndarray:
        """``values`` as an array, the same array for equal tuples (ops on one group
        share their cores)."""
        got = self.arrays.get(values)
        if got is None:
            got = self.arrays[values] = _ints(values)
        return got

    def _add(self, batch: Batch) -> Batch:
        self.batches.append(batch)
        self.task_count += batch.visible.size
        return batch

    def _view(self, ref: ViewRef) -> Arrivals:
        """Where the data of ``ref`` is visible (a movement's views are made on demand)."""
        got = self.arrivals.get(ref)
        if got is not None:
            return got
        moved = self.moved[ref.step]
        if ref.request >= 0:
            single = moved.singles.get(ref.request)
            if single is not None:
                got = single
            else:
                assert moved.emitted is not None  # a multi-core request was emitted
                got = moved.emitted.view(moved.order[ref.request])
        else:
            views = [moved.singles[k] for k in sorted(moved.singles)]
            if moved.emitted is not None:
                views.append(moved.emitted.view())
            got = views[0] if len(views) == 1 else Arrivals(
                np.concatenate([v.cores for v in views]),
                np.concatenate([v.moments for v in views]),
                [part for v in views for part in v.parts])
        self.arrivals[ref] = got
        return got

    # ---------------------------------------------------------------- movement
    def _among(self, cores: np.ndarray, wanted: tuple[int, ...]) -> np.ndarray:
        """Whether each of ``cores`` is one of ``wanted`` (``np.isin``, by a table of
        every core: a request's cores are looked up once per request)."""
        marks = _ints(wanted)
        self._member[marks] = True
        got = self._member[cores]
        self._member[marks] = False
        return got

    def _refs(self, request: Request) -> list[Refs]:
        """What a request's collective waits for, as the task emitter reads its
        `Contribution` (``_contributions``): the source's tasks on the request's
        own cores (``per_core``; ``elements`` narrows them), else all of them.
        A request over some of the source's cores (a 2d grid's row or column
        group) so waits for its own cores' data, not for the slowest core's."""
        contribution = request.contribution
        batch = self.out.get(contribution.source.step)
        if batch is not None and contribution.source.request < 0:
            elements = contribution.elements
            if elements is not None:
                elements = batch.step_elements(elements)
            else:
                if not contribution.per_core:
                    return [(batch, batch.every())]
                elements = batch.every()
            mine = self._among(batch.cores[elements // batch.tiles], request.cores)
            return [(batch, elements if mine.all() else elements[mine])]
        view = self._view(contribution.source)
        if not contribution.per_core:
            return view.refs_all()
        listed = view.cores[self._among(view.cores, request.cores)]
        return [ref for core in dict.fromkeys(listed.tolist()) for ref in view.refs(core)]

    def _moves(self, index: int, step: MoveStep) -> None:
        """One batch for the step's multi-core requests, views for the single-core ones."""
        singles: dict[int, Arrivals] = {}
        order: dict[int, int] = {}
        moving: list[tuple[Request, list[Refs]]] = []
        for k, request in enumerate(step.requests):
            deps = self._refs(request)
            if len(request.cores) == 1:  # no movement: the core's own contributions
                core = _ints(request.cores)
                singles[k] = Arrivals(core, _ints([latest_of(deps)]), [Part(core, own=deps)])
                continue
            order[k] = len(moving)
            moving.append((request, deps))
        emitted = self._collective_batch(step, moving) if moving else None
        self.moved[index] = _Moved(singles, emitted, order)

    def _collective_batch(self, step: MoveStep,
                          requests: list[tuple[Request, list[Refs]]]) -> Emitted:
        """The batches of ``requests`` (two or more cores each):
        `sim.backends.arrays.collectives`."""
        wanted = [ProfileRequest(step.kind, step.algorithm, r.cores, r.nbytes,
                                 self._options(step.reduce_op, r.root, step.arity))
                  for r, _ in requests]
        _, shapes = step_shapes(self.net.router, self.net.engines, wanted)
        contributions = [deps for _, deps in requests]
        begin = np.maximum(_latest_of_each(contributions), self.floor)
        emitted = collective_batches(tuple(r.name for r, _ in requests), shapes,
                                     begin, contributions,
                                     self.lanes(step.purpose.value), self._number,
                                     self.batches)
        if emitted is None:
            raise DeclinedError(f"{requests[0][0].name}: a combine not in FIFO order")
        return emitted

    def lanes(self, purpose: str) -> EngineState:
        """The cores' combine lanes for collectives serving ``purpose``."""
        got = self._lanes.get(purpose)
        if got is None:
            got = self._lanes[purpose] = EngineState.idle(self.total_cores)
        return got

    def _options(self, reduce_op: str, root: int | None, arity: int) -> CollectiveOptions:
        key = (reduce_op, root, arity)
        options = self.options.get(key)
        if options is None:
            options = self.options[key] = collective_options(
                self.machine, reduce_op=reduce_op, root=root, arity=arity)
        return options

    def _number(self, batch: Batch) -> None:
        """File ``batch`` as the next tasks."""
        batch.base = self.task_count
        self._add(batch)

    def _messages(self, step: MessageStep) -> Arrivals:
        out = self.out[step.producer]
        count = len(step.src_cores)
        latency = _ints([message_latency_cycles(self.net.router, src, dst, nbytes)
                         for src, dst, nbytes in zip(step.src_cores, step.dst_cores,
                                                     step.nbytes, strict=True)])
        start = np.maximum(out.visible.reshape(-1, out.tiles)[:count].max(axis=1), self.floor)
        release = after(start, latency)
        batch = self._add(MessageBatch(step.op, Category.COMMUNICATION, self.task_count,
                                       cycle_of(start), release, release, producer=out))
        dst = _ints(step.dst_cores)
        return Arrivals(dst, release, [Part(dst, batch, np.arange(count))])

    # ---------------------------------------------------------------- ops
    def _input(self, source: Input, cores: np.ndarray, tiles: int
               ) -> tuple[EdgeSource, np.ndarray]:
        """What ``source`` brings, and (pieces, tiles): the moment each task has it."""
        views = None if source.views is None else [self._view(v) for v in source.views]
        producer = self.out[source.source]
        edge = EdgeSource(producer, views, source.tile_edge)
        if views is not None:
            if len(views) > 1:
                return edge, np.stack([v.at(cores, self.total_cores)
                                       for v in views[:tiles]], axis=1)
            at = views[0].at(cores, self.total_cores)[:, None]
            return edge, at if tiles == 1 else np.repeat(at, tiles, axis=1)
        visible = producer.visible.reshape(-1, producer.tiles)
        per_tile = source.tile_edge and producer.tiles == tiles
        if producer.cores is cores:  # the same cores: every task reads its own core's
            return edge, (visible if per_tile else
                          np.repeat(visible.max(axis=1)[:, None], tiles, axis=1))
        position = np.full(self.total_cores, -1, dtype=np.int64)
        position[producer.cores] = np.arange(len(producer.cores))
        here = position[cores]
        local = here >= 0
        ready = np.full((len(cores), tiles), producer.visible.max(), dtype=np.int64)
        if per_tile:
            ready[local] = visible[here[local]]
        else:
            ready[local] = visible[here[local]].max(axis=1)[:, None]
        return edge, ready

    def _op(self, index: int, step: OpStep) -> OpBatch:
        """Evaluate ``step`` on all its pieces, as the task emitter emits it (a
        streamed op: its streams, their tails, the tiles and their joins)."""
        tiles, base = step.tiles, self.task_count
        cores, which = self._array(step.cores), self._array(step.which)
        occupancy = _ints(step.occupancy_cycles)[which]
        latency = _ints(step.result_latency_cycles)[which]
        if (latency < 0).any():
            raise DeclinedError(f"{step.name}: negative result latency")
        ready = np.full((len(cores), tiles), self.floor, dtype=np.int64)
        sources = []
        for source in step.inputs:
            edge, at = self._input(source, cores, tiles)
            sources.append(edge)
            np.maximum(ready, at, out=ready)
        if step.card_lpddr:
            return self._card_reads(step, base, cores, ready, occupancy, latency, sources)
        streamed = None
        if step.lpddr_bytes:
            streamed = self.streams.streams(index, step, cores, which, base, self.floor)
            if streamed is None:
                raise DeclinedError(f"{step.name}: LPDDR streams not in FIFO order")
            stream = self._add(streamed[0])
            self._add(streamed[1])
            np.maximum(ready, stream.visible[:, None], out=ready)
            sources.append(EdgeSource(streamed[0], None, tile_edge=False))
        batch = OpBatch(step.name, step.category, base, ready, ready, ready,
                        stride=tiles + 3 if streamed else 0, offset=2, group=tiles,
                        cores=cores, tiles=tiles, sources=sources, batches=self.batches)
        engine = self.engines[OpKind.MATMUL if step.kind is OpKind.MATMUL else OpKind.SIMD]
        if not schedule_batch(batch, engine, len(self.batches), ready, occupancy, latency):
            raise DeclinedError(f"{step.name}: not in FIFO order")
        self._add(batch)
        if streamed is None:
            return batch
        joined = self.streams.join(step, streamed[1], batch)
        self._add(joined)
        return joined

    def _card_reads(self, step: OpStep, base: int, cores: np.ndarray, ready: np.ndarray,
                    occupancy: np.ndarray, latency: np.ndarray,
                    sources: list[EdgeSource]) -> OpBatch:
        """A read out of LPDDR (`OpStep.card_lpddr`): each piece on its card's engine."""
        times = None if step.tiles != 1 else self.cards.run(
            cores, ready[:, 0], occupancy[:, 0], latency[:, 0], len(self.batches))
        if times is None:
            raise DeclinedError(f"{step.name}: LPDDR reads not in FIFO order")
        batch = OpBatch(step.name, step.category, base, times.start, times.end, times.visible,
                        cores=cores, sources=sources, batches=self.batches,
                        previous=times.previous, previous_element=times.previous_element)
        self._add(batch)
        return batch


def evaluate(plan: LoweringPlan, machine: MachineConfig,
             interconnect: Interconnect) -> Evaluation | None:
    """``plan`` evaluated in arrays on ``interconnect`` (None if the arrays cannot
    give the analytic schedule; emit the plan task by task then)."""
    evaluator = _Evaluator(plan, machine, interconnect)
    try:
        evaluator.run()
    except DeclinedError:
        return None
    return Evaluation(evaluator.batches, evaluator.task_count)
