"""The closed-form lowering evaluated in arrays: the analytic backend's fast path.

`sim.schedule.lower` with ``collectives="closed_form"`` builds one task per
core and tile, and `sim.backends.analytic` schedules them one at a time. This
module applies the same placement and movement rules (`ArrayLowering` is a
`_Lowering` whose views hold moments instead of task indices) but evaluates
each op over all its cores at once with numpy (`sim.schedule.array_batches`):
no task is built, yet every task's start, release and result is known, and
so is its index in the task-by-task graph.

It gives the schedule the analytic backend gives, under a condition it
checks: on every engine, the order in which it takes the tasks (op by op,
each op's tiles in the order they become ready) is the FIFO order, i.e. the
moments at which they become ready never go back. If that fails, or if the
graph has work the arrays do not cover (a ``collective`` workload, a
negative result latency), `evaluate` returns None: lower the graph task by
task instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from sim.config import MachineConfig, ScheduleConfig
from sim.ir import Category, Edge, EdgeMode, Op, OpGraph, OpKind
from sim.network.collectives import collective_done_cycles
from sim.network.from_config import Interconnect, collective_options
from sim.network.problem import CollectiveOptions
from sim.network.transport import message_latency_cycles
from sim.schedule.array_batches import (
    NONE,
    ROUNDS,
    Arrivals,
    Batch,
    CollectiveBatch,
    EdgeSource,
    MessageBatch,
    OpBatch,
    Part,
    Refs,
    cycle_of,
    latest_of,
    moment,
)
from sim.schedule.mapping import _Lowering, _tile_field
from sim.schedule.placement import LayerGroup, check_capacity, op_pieces, piece_stored_bytes

__all__ = ["ArrayLowering", "DeclinedError", "evaluate", "event_count"]


class DeclinedError(Exception):
    """The arrays cannot evaluate this graph exactly: lower it task by task."""


def _ints(values: object) -> np.ndarray:
    return np.asarray(values, dtype=np.int64)


def _after(start: np.ndarray, cycles: np.ndarray) -> np.ndarray:
    """The moments at which work started at moments ``start`` and lasting ``cycles``
    is due: a later cycle's round 0, or, for zero cycles, the next round."""
    return np.where(cycles == 0, start + 1, moment(cycle_of(start) + cycles, 0))


@dataclass(frozen=True, eq=False)
class _Request:
    """One collective to emit: over ``cores``, ``nbytes`` per core, after ``deps``."""

    cores: tuple[int, ...]
    nbytes: int
    deps: list[Refs]
    name: str
    root: int | None


@dataclass(frozen=True)
class _Shape:
    """The tasks of one closed-form collective: its zero-time start task if
    ``has_start`` (there are several arrival cycles), then one per distinct
    arrival cycle; per task its cycles after the start (``offsets``) and the
    rounds it waits after the start (``waits``: 1 behind a start task, which
    publishes a round later); the cores with the result and each one's task."""

    has_start: bool
    offsets: np.ndarray
    waits: np.ndarray
    cores: np.ndarray
    elements: np.ndarray

    @classmethod
    def of(cls, cores: np.ndarray, distinct: np.ndarray, which: np.ndarray) -> _Shape:
        """From the cores with the result, the distinct arrival cycles (ascending)
        and each core's index into them."""
        has_start = len(distinct) > 1
        offsets = np.concatenate(([0], distinct)) if has_start else distinct
        waits = np.full(len(offsets), int(has_start), dtype=np.int64)
        waits[0] = 0
        return cls(has_start, offsets, waits, cores, which + int(has_start))


@dataclass(frozen=True)
class _Emitted:
    """A `CollectiveBatch` and where its results arrive: the cores of request j are
    ``cores[bounds[j]:bounds[j + 1]]``, each with its task ``elements[i]``."""

    batch: CollectiveBatch
    cores: np.ndarray
    elements: np.ndarray
    bounds: np.ndarray

    def view(self, request: int | None = None) -> Arrivals:
        """Where request ``request``'s result arrives (None: every request's)."""
        cores, elements = self.cores, self.elements
        if request is not None:
            lo, hi = self.bounds[request], self.bounds[request + 1]
            cores, elements = cores[lo:hi], elements[lo:hi]
        return Arrivals(cores, self.batch.visible[elements],
                        [Part(cores, self.batch, elements)])


def _latest_of_each(deps: list[list[Refs]]) -> np.ndarray:
    """`latest_of` for each entry of ``deps`` (at once when every entry is one
    equally long, non-empty slice of the same batch)."""
    if all(len(d) == 1 for d in deps) and len({id(d[0][0]) for d in deps}) == 1 \
            and len({d[0][1].size for d in deps}) == 1 and deps[0][0][1].size:
        batch = deps[0][0][0]
        return batch.visible[np.stack([d[0][1] for d in deps])].max(axis=1)
    return _ints([latest_of(d) for d in deps])


class ArrayLowering(_Lowering):
    """`_Lowering` evaluated in arrays (module docstring). After `run`, ``batches``
    holds every batch in task order and ``task_count`` the number of tasks."""

    def __init__(self, graph: OpGraph, machine: MachineConfig, schedule: ScheduleConfig,
                 net: Interconnect, bits: dict[str, int]) -> None:
        super().__init__(graph, machine, schedule, net, bits, "closed_form")
        self.total_cores = machine.hierarchy.total_cores
        self.batches: list[Batch] = []
        self.task_count = 0
        self.options: dict[tuple[str, int | None], CollectiveOptions] = {}
        self.stored_array = np.zeros(self.total_cores, dtype=np.int64)
        self.arrays: dict[tuple[int, ...], np.ndarray] = {}
        # per engine kind and core: the moment it is free, the moment its last
        # task became ready (the FIFO check), and that task (batch, element)
        self.engines = {kind: {name: np.full(self.total_cores, init, dtype=np.int64)
                               for name, init in (("free", NONE), ("ready", NONE),
                                                  ("batch", -1), ("element", -1))}
                        for kind in (OpKind.MATMUL, OpKind.SIMD)}

    def run(self) -> None:
        """Evaluate the whole graph.

        Raises
        ------
        DeclinedError
            If the arrays cannot give the analytic schedule (module docstring).
        CapacityError, GraphError
            As `sim.schedule.lower` does.
        """
        for op in self.graph.topological_order("mapping"):
            if op.kind is OpKind.COLLECTIVE:
                raise DeclinedError(f"{op.name}: collective workload")
            self.lower_op(op)
        if self.task_count >= ROUNDS - 1:  # a moment could not hold every round
            raise DeclinedError(f"{self.task_count} tasks: too many rounds for a moment")
        fullest = int(np.argmax(self.stored_array))  # the first core that stores the most
        check_capacity({fullest: int(self.stored_array[fullest])}, self.machine)

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

    # ---------------------------------------------------------------- movement
    def _collective(self, kind: str, cores: tuple[int, ...], nbytes: int,  # type: ignore[override]
                    deps: list[Refs] | OpBatch, name: str, *, reduce_op: str = "sum",
                    root: int | None = None, purpose: str = "data_comm",
                    algorithm: str | None = None) -> Arrivals:
        """The closed-form collective over ``cores`` after ``deps`` (every contribution)."""
        if isinstance(deps, OpBatch):
            deps = [(deps, deps.every())]
        return self._collectives(kind, [_Request(cores, nbytes, deps, name, root)],
                                 reduce_op=reduce_op, purpose=purpose, algorithm=algorithm)[0]

    def _collectives(self, kind: str, requests: list[_Request], *, reduce_op: str = "sum",
                     purpose: str = "data_comm", algorithm: str | None = None,
                     merged: bool = True) -> list[Arrivals]:
        """Collectives emitted one after another (one batch for all), and where their
        results arrive: one view for all (``merged``) or one per request."""
        algorithm = algorithm or (self.schedule.gather_algorithm if kind == "all_gather"
                                  else self.schedule.reduction_algorithm)
        moving = [r for r in requests if len(r.cores) > 1]
        got = self._collective_batch(kind, algorithm, reduce_op, moving) if moving else None
        views: list[Arrivals] = []
        emitted = 0
        for request in requests:
            self.purposes[request.name] = purpose
            if len(request.cores) == 1:  # no movement: the core's own contributions
                core = _ints(request.cores)
                views.append(Arrivals(core, _ints([latest_of(request.deps)]),
                                      [Part(core, own=request.deps)]))
                continue
            if not merged:
                assert got is not None
                views.append(got.view(emitted))
            emitted += 1
        if not merged:
            return views
        if got is not None:
            views.append(got.view())
        if len(views) == 1:
            return views
        return [Arrivals(np.concatenate([v.cores for v in views]),
                         np.concatenate([v.moments for v in views]),
                         [part for v in views for part in v.parts])]

    def _collective_batch(self, kind: str, algorithm: str, reduce_op: str,
                          requests: list[_Request]) -> _Emitted:
        """One `CollectiveBatch` for ``requests`` (two or more cores each)."""
        shapes = [self._shape(kind, algorithm, reduce_op, r) for r in requests]
        sizes = _ints([len(s.offsets) for s in shapes])
        begin = np.repeat(_latest_of_each([r.deps for r in requests]), sizes)
        # arrival tasks become ready when the start task publishes: a round later
        ready = begin + np.concatenate([s.waits for s in shapes])
        first = np.cumsum(sizes) - sizes
        cores = np.concatenate([s.cores for s in shapes])
        elements = np.concatenate([f + s.elements for f, s in zip(first, shapes, strict=True)])
        offsets = np.concatenate([s.offsets for s in shapes])
        release = _after(ready, offsets)
        batch = CollectiveBatch(
            "", Category.COMMUNICATION, self.task_count, cycle_of(begin), release, release,
            ops=tuple(r.name for r in requests), owner=np.repeat(np.arange(len(requests)), sizes),
            first=first, has_start=np.array([s.has_start for s in shapes]),
            contributions=[r.deps for r in requests])
        self._add(batch)
        bounds = np.cumsum([0, *(len(s.cores) for s in shapes)])
        return _Emitted(batch, cores, elements, bounds)

    def _shape(self, kind: str, algorithm: str, reduce_op: str, request: _Request) -> _Shape:
        """The closed form of one collective, remembered by the router."""
        options = self.options.get((reduce_op, request.root))
        if options is None:
            options = self.options[reduce_op, request.root] = collective_options(
                self.machine, reduce_op=reduce_op, root=request.root,
                arity=self.schedule.collective_arity)
        nbytes = max(1, request.nbytes)
        key = ("done_arrays", kind, algorithm, request.cores, nbytes, options)
        router = self.net.router
        shape = router.remembered(key)
        if shape is None:
            done = collective_done_cycles(router, kind, algorithm, request.cores, nbytes,
                                          options=options)
            cycles = np.fromiter(done.values(), dtype=np.int64, count=len(done))
            distinct, which = np.unique(cycles, return_inverse=True)
            shape = _Shape.of(np.fromiter(done.keys(), dtype=np.int64, count=len(done)),
                              distinct, which.astype(np.int64))
            router.remember(key, shape)
        return shape

    def _relocated(self, producer: str, group: LayerGroup) -> Arrivals:  # type: ignore[override]
        key = ("move", producer, group.index)
        if key not in self._memo:
            out: OpBatch = self.out[producer]  # type: ignore[assignment]
            pieces = self.pieces[producer]
            count = min(len(pieces), len(group.cores))
            latency = _ints([message_latency_cycles(self.net.router, piece.core, dst,
                                                    max(1, self._bytes(piece.shape)))
                             for piece, dst in zip(pieces, group.cores, strict=False)])
            start = out.visible.reshape(-1, out.tiles)[:count].max(axis=1)
            release = _after(start, latency)
            name = f"{producer}>move"
            self.purposes[name] = "data_comm"
            batch = self._add(MessageBatch(name, Category.COMMUNICATION, self.task_count,
                                           cycle_of(start), release, release, producer=out))
            dst = _ints(group.cores[:count])
            self._memo[key] = Arrivals(dst, release,  # type: ignore[assignment]
                                       [Part(dst, batch, np.arange(count))])
        return self._memo[key]  # type: ignore[return-value]

    def _all_gather(self, edge: Edge, group: LayerGroup, chunks: int,  # type: ignore[override]
                    consumer: Op) -> list[Arrivals]:
        key = ("gather", edge.src, group.index, chunks)
        if key in self._memo:
            return self._memo[key]  # type: ignore[return-value]
        producer = self.graph.op(edge.src)
        out: OpBatch = self.out[edge.src]  # type: ignore[assignment]
        sources, layout, moved = self._gather_sources(edge, group, consumer)
        every = [(out, out.every())] if sources is out else sources.refs_all()
        if layout == "slice" and chunks > 1 and not moved:
            per_core = self._piece_bytes(edge.src).max()
            starts, ends, total = self._column_spans(producer)
            bounds = np.cumsum([0, *self._tile_lengths(consumer, total)])
            held = (ends > starts).reshape(-1)  # empty tiles carry nothing
            starts, ends = starts.reshape(-1), ends.reshape(-1)
            result = self._collectives("all_gather", [
                _Request(group.cores, -(-int(per_core) // chunks),
                         [(out, np.flatnonzero(held & (starts < hi) & (ends > lo)))],
                         f"{consumer.name}<{edge.src}.gather{chunk}", None)
                for chunk, (lo, hi) in enumerate(pairwise(bounds))],
                merged=False)
        else:
            if self.layout[edge.src] == "attn":  # after the set reduce only the roots hold data
                roots = {members[0] for members in self._sets(edge.src).sets}
                total_bytes = sum(self._bytes(p.shape) for p in self.pieces[edge.src]
                                  if p.core in roots)
            elif layout == "every":
                total_bytes = self._bytes(self.pieces[edge.src].shapes[0])
            else:
                total_bytes = int(self._piece_bytes(edge.src).sum())
            nbytes = -(-total_bytes // len(group.cores))
            result = [self._collective("all_gather", group.cores, nbytes, every,
                                       f"{consumer.name}<{edge.src}.gather")] * chunks
        self._memo[key] = result  # type: ignore[assignment]
        return result

    def _piece_bytes(self, name: str) -> np.ndarray:
        """Output bytes of every piece of op ``name``."""
        pieces = self.pieces[name]
        return _ints([self._bytes(shape) for shape in pieces.shapes])[_ints(pieces.which)]

    def _column_spans(self, op: Op) -> tuple[np.ndarray, np.ndarray, int]:
        """(pieces, tiles): the columns [start, end) each tile of producer ``op``
        holds in the gathered vector (untiled: each piece in one span), as
        `_Lowering._tiles_in` cuts them; and the vector's length."""
        pieces = self.pieces[op.name]
        which = _ints(pieces.which)
        widths = _ints([getattr(shape, self._cols(op)) for shape in pieces.shapes])[which]
        offsets = np.concatenate(([0], np.cumsum(widths)[:-1]))[:, None]
        total = int(widths.sum())
        if op.tiling is None:
            return offsets, offsets + widths[:, None], total
        field = _tile_field(op)
        ends = _ints([np.cumsum([0, *self._tile_lengths(op, getattr(shape, field))])
                      for shape in pieces.shapes])[which]
        return offsets + ends[:, :-1], offsets + ends[:, 1:], total

    def _set_reduce(self, producer: str, consumer: Op, chunked: bool,  # type: ignore[override]
                    kind: str = "reduce", reduce_op: str = "sum") -> list[Arrivals]:
        key = (kind, producer, consumer.name if chunked else "", reduce_op)
        if key in self._memo:
            return self._memo[key]  # type: ignore[return-value]
        attention, tiles, purpose, set_bytes = self._set_reduce_plan(producer, chunked)
        out: OpBatch = self.out[producer]  # type: ignore[assignment]
        position = np.full(self.total_cores, -1, dtype=np.int64)
        position[out.cores] = np.arange(len(out.cores))
        first_tiles = [position[list(members)] * out.tiles for members in attention.sets]
        every_tile = [(at[:, None] + np.arange(out.tiles)).reshape(-1) for at in first_tiles]
        results = []
        for tile in range(tiles):
            requests = [
                _Request(members, size,
                         [(out, first_tiles[j] + tile if chunked else every_tile[j])],
                         f"{consumer.name}<{producer}.{kind}{tile}.s{j}", members[0])
                for j, (members, size) in enumerate(zip(attention.sets, set_bytes, strict=True))]
            results.extend(self._collectives(
                kind, requests, reduce_op=reduce_op, purpose=purpose,
                algorithm=self._in_routers(self.graph.op(producer))))
        self._memo[key] = results  # type: ignore[assignment]
        return results

    # ---------------------------------------------------------------- ops
    def _edge(self, edge: Edge, op: Op, cores: np.ndarray, tiles: int
              ) -> tuple[EdgeSource, np.ndarray]:
        """What ``edge`` brings to ``op``, and (pieces, tiles): the moment each task of
        ``op`` has it."""
        views = self._edge_sources(edge, op, tiles)
        producer: OpBatch = self.out[edge.src]  # type: ignore[assignment]
        source = EdgeSource(producer, views, edge.mode is EdgeMode.TILE)
        if views is not None:
            if len(views) > 1:
                return source, np.stack([v.at(cores, self.total_cores)
                                         for v in views[:tiles]], axis=1)
            at = views[0].at(cores, self.total_cores)[:, None]
            return source, at if tiles == 1 else np.repeat(at, tiles, axis=1)
        visible = producer.visible.reshape(-1, producer.tiles)
        per_tile = source.tile_edge and producer.tiles == tiles
        if producer.cores is cores:  # the same cores: every task reads its own core's
            return source, (visible if per_tile else
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
        return source, ready

    def lower_op(self, op: Op) -> None:
        """Evaluate ``op`` on all its pieces, as `_Lowering.lower_op` lowers it, and
        keep its batch as the op's output."""
        group, layout, attention = self._place(op)
        pieces = op_pieces(op, layout, group, attention)
        self.pieces[op.name] = pieces
        tiles = self._record(op, group, layout, pieces)
        cores, which = self._array(pieces.cores), self._array(pieces.which)
        costs = [self._tile_costs(op, shape) for shape in pieces.shapes]
        occupancy = _ints([[c.occupancy_cycles for c in row] for row in costs])[which]
        latency = _ints([[c.result_latency_cycles for c in row] for row in costs])[which]
        if (latency < 0).any():
            raise DeclinedError(f"{op.name}: negative result latency")
        stored = [piece_stored_bytes(shape, op, self.bits) for shape in pieces.shapes]
        if any(stored):
            np.add.at(self.stored_array, cores, _ints(stored)[which])
        ready = np.full((len(cores), tiles), NONE, dtype=np.int64)
        sources = []
        for edge in self.graph.predecessors(op.name):
            source, at = self._edge(edge, op, cores, tiles)
            sources.append(source)
            np.maximum(ready, at, out=ready)
        batch = OpBatch(op.name, Category.MATMUL if op.kind is OpKind.MATMUL else Category.SIMD,
                        self.task_count, ready, ready, ready,  # times: set by _schedule
                        cores=cores, tiles=tiles, sources=sources, batches=self.batches)
        self._schedule(batch, op.kind, ready, occupancy, latency)
        self._add(batch)
        self.out[op.name] = batch  # type: ignore[assignment]

    def _schedule(self, batch: OpBatch, kind: OpKind, ready: np.ndarray,
                  occupancy: np.ndarray, latency: np.ndarray) -> None:
        """Run ``batch``'s tasks (``ready``: (pieces, tiles) moments) on their cores'
        engines of ``kind``, each core's tiles in the order they become ready; fill
        the batch's times and engine predecessors.

        With E_k the cycles of the tiles run before tile k and F the cycle the
        engine is free, tile k starts at E_k + max(F, max over j <= k of
        (ready_j - E_j)).

        Raises
        ------
        DeclinedError
            If that order is not the FIFO order (module docstring).
        """
        engine = self.engines[OpKind.MATMUL if kind is OpKind.MATMUL else OpKind.SIMD]
        cores, tiles, mine = batch.cores, batch.tiles, len(self.batches)
        free = engine["free"][cores]
        if tiles == 1:
            ready, occupancy, latency = ready[:, 0], occupancy[:, 0], latency[:, 0]
            if (ready < engine["ready"][cores]).any():
                raise DeclinedError(f"{batch.op}: not in FIFO order")
            begin = np.maximum(ready, free)
            start = cycle_of(begin)
            release = moment(start + occupancy, 0)
            zero = occupancy == 0
            if zero.any():  # a zero-time task releases in the round after it starts
                release[zero] = begin[zero] + 1
            element = np.arange(len(cores))
            previous, previous_element = engine["batch"][cores], engine["element"][cores]
            last = element
        else:  # each core's tiles in the order they become ready
            element = np.arange(ready.size).reshape(ready.shape)
            if (ready[:, 1:] < ready[:, :-1]).any():
                order = np.argsort(ready, axis=1, kind="stable")
                element = element[:, :1] + order
                ready, occupancy, latency = (a.reshape(-1)[element]
                                             for a in (ready, occupancy, latency))
            if (ready[:, 0] < engine["ready"][cores]).any():
                raise DeclinedError(f"{batch.op}: not in FIFO order")
            ran_before = np.cumsum(occupancy, axis=1) - occupancy
            slack = cycle_of(ready) - ran_before
            slack[:, 0] = np.maximum(slack[:, 0], cycle_of(free))
            start = ran_before + np.maximum.accumulate(slack, axis=1)
            release = moment(start + occupancy, 0)
            zero = occupancy == 0
            if zero.any():
                freed = free
                for k in range(tiles):
                    release[:, k] = np.where(zero[:, k], np.maximum(ready[:, k], freed) + 1,
                                             release[:, k])
                    freed = release[:, k]
            previous = np.full(element.shape, mine, dtype=np.int64)
            previous[:, 0] = engine["batch"][cores]
            previous_element = np.concatenate(
                (engine["element"][cores][:, None], element[:, :-1]), axis=1)
            last = element[:, -1]
        visible = release + latency * ROUNDS  # round 0 after a task of non-zero time
        if zero.any():
            late = zero & (latency > 0)
            visible[late] = moment(cycle_of(release[late]) + latency[late], 0)
        engine["free"][cores] = release if tiles == 1 else release[:, -1]
        engine["ready"][cores] = ready if tiles == 1 else ready[:, -1]
        engine["batch"][cores], engine["element"][cores] = mine, last
        times = (("start", start), ("end", release), ("visible", visible),
                 ("previous", previous), ("previous_element", previous_element))
        flat = element.reshape(-1)  # from ready order back to element order
        for name, values in times:
            if tiles == 1:
                setattr(batch, name, values)
                continue
            out = np.empty(flat.size, dtype=np.int64)
            out[flat] = values.reshape(-1)
            setattr(batch, name, out)


def event_count(batches: list[Batch]) -> int:
    """The analytic backend's `Timeline.events`: the distinct moments at which an
    engine release, or a result due after it, is filed."""
    if not any(b.end.size for b in batches):
        return 0
    end = np.concatenate([b.end for b in batches])
    visible = np.concatenate([b.visible for b in batches])
    due = np.sort(np.concatenate((end, visible[visible != end])))  # (np.unique: 10x slower)
    return int(np.count_nonzero(due[1:] != due[:-1])) + 1


def evaluate(graph: OpGraph, machine: MachineConfig, schedule: ScheduleConfig,
             net: Interconnect, bits: dict[str, int]) -> ArrayLowering | None:
    """The graph evaluated in arrays (None if the arrays cannot give the analytic
    schedule; lower it task by task then).

    Raises
    ------
    CapacityError, GraphError
        As `sim.schedule.lower` does.
    """
    state = ArrayLowering(graph, machine, schedule, net, bits)
    try:
        state.run()
    except DeclinedError:
        return None
    return state
