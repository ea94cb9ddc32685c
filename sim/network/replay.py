"""A collective's hop-level schedule played alone, from compact columns.

`sim.backends.collective_profile` needs, per distinct collective, its
hop-level tasks (`sim.network.collectives.append_collective`, what the DES
runs) played alone on FIFO engines, every contribution ready at cycle 0. With
small packets (``machine.network.max_packet_bytes``) or a ring over a thousand
cores that is millions of hop tasks; one `sim.ir.Task` object each (plus the
dense copy and the task graph's own tables) cost gigabytes and most of the run.

`replay_collective` plays the same tasks without building them:

- a recording `Emitter` runs the algorithm's own schedule and keeps one record
  per message (source, destination, bytes, what it waits for) and per combine,
  while counting task indices exactly as `sim.network.transport.append_message`
  and `Emitter.combine` append them (inject task, then every packet's hops in
  order), so every index, and so every FIFO tie, is the real list's;
- the hops are expanded into integer columns with numpy (engine, duration,
  result latency, chain successor, dependencies left), the latencies those of
  `sim.network.transport` (cut-through: ``h - F`` before the last hop, ``h - 1``
  on it; store-and-forward: ``h - 1`` everywhere);
- `_play` runs the execution rules of `sim.backends.fifo` (the heap clock: same
  cycles, same passes within a cycle, same queues keyed by ready cycle and task
  index) over those columns: a hop's only dependent is its packet's next hop,
  so only messages' deliveries and combines keep explicit dependent lists.

The figures are those of `sim.backends.fifo.run_fifo` on the real tasks, bit
for bit (``tests/network/test_replay.py`` compares both on every algorithm that
can be recorded). Algorithms that append tasks of their own (``in_network``,
``multicast``, ``row_column``: routers merging and multicasting) are not
recorded: `replay_collective` returns None and the caller plays the real tasks.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from heapq import heappop, heappush

import numpy as np

from sim.errors import DeadlockError
from sim.gcpause import paused_gc
from sim.ir import Task
from sim.network.algorithms import ALGORITHMS
from sim.network.emit import Emitter
from sim.network.problem import CollectiveKind, CollectiveOptions, Problem, make_problem
from sim.network.ring_collectives import ring_played_alone
from sim.network.routing import Router
from sim.network.transport import NetworkEngines, flits_for, packet_sizes

__all__ = ["Replay", "replay_collective"]


#: Replays of more tasks than this pause the garbage collector (`sim.gcpause`): below
#: it, re-enabling it costs more than the collections it saves.
_PAUSE_GC_TASKS = 100_000


class _NotRecordableError(Exception):
    """The algorithm appends tasks other than messages and combines."""


class _Recorder(Emitter):
    """An `Emitter` that records messages and combines instead of appending tasks.

    ``count`` is the length the real task list would have; the indices returned
    are the real ones. Touching ``tasks`` (algorithms that append their own
    tasks) raises `_NotRecordableError`.
    """

    def __init__(self, problem: Problem, engines: NetworkEngines) -> None:
        super().__init__([], problem, engines, "collective", None)
        router = problem.router
        self.count = 0
        self.inject = router.endpoint_overhead_cycles > 0
        #: per message: (index of its first hop, source, destination, bytes, deps)
        self.messages: list[tuple[int, int, int, int, tuple[int, ...]]] = []
        #: per combine: (index, core, cycles, deps)
        self.combines: list[tuple[int, int, int, tuple[int, ...]]] = []
        self.max_packet_bytes = problem.options.max_packet_bytes
        self._hops: dict[tuple[int, int], int] = {}

    @property
    def tasks(self) -> list[Task]:
        raise _NotRecordableError

    @tasks.setter
    def tasks(self, value: list[Task]) -> None:
        """`Emitter.__init__` sets it; the recorder keeps no tasks."""

    def send(self, src: int, dst: int, nbytes: int, deps: Sequence[int], label: str) -> int:
        """Record a message; return the index the real `append_message` would."""
        if src == dst:
            raise ValueError(f"message {label!r} from core {src} to itself")
        hops = self._hops.get((src, dst))
        if hops is None:
            hops = self._hops[src, dst] = self.problem.router.route(src, dst).hops
        packets = len(packet_sizes(nbytes, self.max_packet_bytes))
        first = self.count + self.inject
        self.messages.append((first, src, dst, nbytes, tuple(dict.fromkeys(deps))))
        self.count = first + packets * hops
        return self.count - 1

    def combine(self, core: int, nbytes: int, deps: Sequence[int]) -> int:
        """Record a combine; return the index the real `Emitter.combine` would."""
        index = self.count
        self.combines.append((index, core, self.problem.combine_cycles(nbytes),
                              tuple(dict.fromkeys(deps))))
        self.count += 1
        return index


@dataclass(frozen=True, eq=False)
class Replay:
    """What `replay_collective` measured: per core with the result, the latest ready
    cycle of the tasks marking it (0 if none); per combine its core, start cycle and
    cycles; link engines and the cycles hops hold them (per hop task, or summed per
    link: readers sum them per link)."""

    done_ready_cycles: dict[int, int]
    combine_cores: np.ndarray
    combine_start_cycles: np.ndarray
    combine_cycles: np.ndarray
    hop_links: np.ndarray
    hop_cycles: np.ndarray


@dataclass
class _Columns:
    """The tasks as columns (module docstring); ``dependents`` only where a task
    has dependents other than its chain successor (which waits for nothing else);
    engines numbered densely over those used."""

    engine: array
    duration: array
    latency: array
    successor: array
    waiting: array
    dependents: dict[int, list[int]]


def _message_shapes(rec: _Recorder, engines: NetworkEngines
                    ) -> tuple[list[int], list[int], list[int], list[int], list[int], list[int]]:
    """Per distinct route its link engines and head latencies (concatenated); per
    message where its route starts in them, its hops and packets; every packet's flits."""
    router = rec.problem.router
    routes: dict[tuple[int, int], int] = {}
    shapes: dict[tuple[int, int, int], tuple[int, int, tuple[int, ...]]] = {}
    links: list[int] = []
    heads: list[int] = []
    offset: list[int] = []
    hops: list[int] = []
    packets: list[int] = []
    flits: list[int] = []
    for _, src, dst, nbytes, _ in rec.messages:
        shape = shapes.get((src, dst, nbytes))
        if shape is None:
            at = routes.get((src, dst))
            route = router.route(src, dst)
            if at is None:
                at = routes[src, dst] = len(links)
                links.extend(engines.links[e] for e in route.edges)
                heads.extend(router.route_hop_cycles(src, dst))
            sizes = packet_sizes(nbytes, rec.max_packet_bytes)
            shape = shapes[src, dst, nbytes] = (at, route.hops, tuple(
                flits_for(size, route.bottleneck_bytes_per_cycle) for size in sizes))
        offset.append(shape[0])
        hops.append(shape[1])
        packets.append(len(shape[2]))
        flits.extend(shape[2])
    return links, heads, offset, hops, packets, flits


def _columns(rec: _Recorder, engines: NetworkEngines) -> tuple[_Columns, np.ndarray, np.ndarray]:
    """Every recorded task as columns (hops expanded with numpy); the hops' links
    and cycles, in task order."""
    n = rec.count
    engine = np.zeros(n, dtype=np.int64)
    duration = np.zeros(n, dtype=np.int64)
    latency = np.zeros(n, dtype=np.int64)
    successor = np.full(n, -1, dtype=np.int64)
    waiting = np.zeros(n, dtype=np.int64)
    dependents: dict[int, list[int]] = {}
    links_l, heads_l, offset_l, hops_l, packets_l, flits_l = _message_shapes(rec, engines)
    first = np.array([m[0] for m in rec.messages], dtype=np.int64)
    hops = np.array(hops_l, dtype=np.int64)
    packets = np.array(packets_l, dtype=np.int64)
    # per packet: its message and ordinal; per hop: its packet and position on the route
    packet_msg = np.repeat(np.arange(packets.size), packets)
    packet_ord = np.arange(packet_msg.size) - np.repeat(np.cumsum(packets) - packets, packets)
    packet_hops = hops[packet_msg]
    hop_packet = np.repeat(np.arange(packet_msg.size), packet_hops)
    hop_pos = np.arange(hop_packet.size) - np.repeat(np.cumsum(packet_hops) - packet_hops,
                                                     packet_hops)
    msg = packet_msg[hop_packet]
    index = first[msg] + packet_ord[hop_packet] * hops[msg] + hop_pos
    at = np.array(offset_l, dtype=np.int64)[msg] + hop_pos
    head = np.array(heads_l, dtype=np.int64)[at]
    link = np.array(links_l, dtype=np.int64)[at]
    flits = np.array(flits_l, dtype=np.int64)[hop_packet]
    last = hop_pos == hops[msg] - 1
    engine[index] = link
    duration[index] = flits
    latency[index] = np.where(last | rec.problem.router.store_and_forward, head - 1,
                              head - flits)
    successor[index] = np.where(last, -1, index + 1)
    waiting[index] = 1  # a later hop waits for its packet's previous hop alone
    del hop_packet, hop_pos, msg, index, at, head, last
    for m, (start, src, _, _, deps) in enumerate(rec.messages):
        waits = deps
        if rec.inject:  # zero-time, on the source's NIC (`append_inject`)
            engine[start - 1] = engines.nic[src]
            latency[start - 1] = rec.problem.router.endpoint_overhead_cycles
            waiting[start - 1] = len(deps)
            for dep in deps:
                dependents.setdefault(dep, []).append(start - 1)
            waits = (start - 1,)
        end = start + int(packets[m] * hops[m])
        waiting[start:end:hops[m]] = len(waits)
        for dep in waits:
            dependents.setdefault(dep, []).extend(range(start, end, int(hops[m])))
    for index_c, core, cycles, deps in rec.combines:
        engine[index_c] = engines.simd[core]
        duration[index_c] = cycles
        waiting[index_c] = len(deps)
        for dep in deps:
            dependents.setdefault(dep, []).append(index_c)
    def packed(column: np.ndarray) -> array:
        out = array("q")
        out.frombytes(memoryview(column.data).cast("B"))  # no intermediate bytes copy
        return out

    # engines renumbered densely: the queues are of the engines used only
    dense = np.unique(engine, return_inverse=True)[1].astype(np.int64)
    cols = _Columns(packed(dense), packed(duration), packed(latency), packed(successor),
                    packed(waiting), dependents)
    return cols, link, flits


def _play(cols: _Columns) -> tuple[array, array]:
    """Start and ready cycle of every task: the rules of `sim.backends.fifo` (heap
    clock) on ``cols``. Raises `DeadlockError` if some task never starts."""
    engine, duration, latency = cols.engine, cols.duration, cols.latency
    successor, waiting, dependents = cols.successor, cols.waiting, cols.dependents
    n_tasks = len(engine)
    n_engines = max(engine, default=-1) + 1
    queues: list[list[tuple[int, int]]] = [[] for _ in range(n_engines)]
    busy = [False] * n_engines
    start = array("q", [-1]) * n_tasks
    ready = array("q", [-1]) * n_tasks
    dirty: list[int] = []
    due: dict[int, list[int]] = {}
    cycles: list[int] = []

    def file(cycle: int, entry: int) -> None:
        bucket = due.get(cycle)
        if bucket is None:
            due[cycle] = [entry]
            heappush(cycles, cycle)
        else:
            bucket.append(entry)

    def dispatch(now: int) -> None:
        engines = dirty[:]
        dirty.clear()
        for eng in engines:
            queue = queues[eng]
            if busy[eng] or not queue:
                continue
            index = heappop(queue)[1]
            busy[eng] = True
            start[index] = now
            release = now + duration[index]
            file(release, index)
            lag = latency[index]
            if lag < 0:
                file(release + lag, ~index)

    def on_cycle(now: int) -> None:
        for entry in due.pop(now):
            if entry >= 0:
                index = entry
                eng = engine[index]
                busy[eng] = False
                if queues[eng]:
                    dirty.append(eng)
                lag = latency[index]
                if lag:
                    if lag > 0:
                        file(now + lag, ~index)
                    continue
            else:
                index = ~entry
            ready[index] = now
            nxt = successor[index]
            if nxt >= 0:  # its only dependency: no count to keep
                eng = engine[nxt]
                heappush(queues[eng], (now, nxt))
                dirty.append(eng)
            for dep in dependents.get(index, ()):
                waiting[dep] -= 1
                if not waiting[dep]:
                    eng = engine[dep]
                    heappush(queues[eng], (now, dep))
                    dirty.append(eng)
        if dirty:
            dispatch(now)

    for index in range(n_tasks):
        if waiting[index] == 0:
            heappush(queues[engine[index]], (0, index))
            dirty.append(engine[index])
    dispatch(0)
    while cycles:
        on_cycle(heappop(cycles))
    if n_tasks and min(start) < 0:
        stuck = start.tolist().count(-1)
        raise DeadlockError(f"deadlock in a collective's replay: {stuck} of {n_tasks} tasks "
                            "can never start", ())
    return start, ready


def _ring_replay(problem: Problem, engines: NetworkEngines) -> Replay | None:
    """`sim.network.ring_collectives.ring_played_alone` as a `Replay` (its hops
    summed per link: ``hop_links`` once per segment link)."""
    play = ring_played_alone(problem)
    if play is None:
        return None
    router, order, p = problem.router, play.order, len(play.order)
    links: list[int] = []
    cycles: list[int] = []
    for j in range(p):
        edges = router.route(order[j], order[(j + 1) % p]).edges
        links.extend(engines.links[e] for e in edges)
        cycles.extend([int(play.hold_cycles[j]) * play.messages] * len(edges))
    steps = play.combine_start_cycles.shape[0]
    return Replay(dict(zip(order, play.done_cycles.tolist(), strict=True)),
                  np.tile(np.array(order, dtype=np.int64), steps),
                  play.combine_start_cycles.reshape(-1),
                  np.full(steps * p, play.combine_cycles, dtype=np.int64),
                  np.array(links, dtype=np.int64), np.array(cycles, dtype=np.int64))


#: Algorithms whose played-alone timeline has an exact arithmetic form where it
#: applies (None where it does not: then the recorded tasks are played).
_PLAYED_ALONE = {"ring": _ring_replay}


def replay_collective(router: Router, engines: NetworkEngines, kind: CollectiveKind | str,
                      algorithm: str, cores: Sequence[int], nbytes: int,
                      options: CollectiveOptions) -> Replay | None:
    """The collective's hop-level tasks played alone (module docstring), or None if
    its algorithm appends tasks of its own.

    Raises
    ------
    ConfigError
        For a bad request (`sim.network.problem.make_problem`).
    """
    problem = make_problem(router, kind, algorithm, tuple(cores), nbytes, options)
    closed_form = _PLAYED_ALONE.get(problem.algorithm)
    played = closed_form(problem, engines) if closed_form is not None else None
    if played is not None:
        return played
    rec = _Recorder(problem, engines)
    try:
        done = ALGORITHMS.get(problem.algorithm, key="algorithm").schedule(problem, rec)
    except _NotRecordableError:
        return None
    with paused_gc() if rec.count > _PAUSE_GC_TASKS else nullcontext():
        cols, links, cycles = _columns(rec, engines)
        start, ready = _play(cols)
    done_ready = {core: max((ready[i] for i in done[core]), default=0) for core in sorted(done)}
    combine_index = np.array([c[0] for c in rec.combines], dtype=np.int64)
    starts = np.frombuffer(start, dtype=np.int64)[combine_index] if combine_index.size \
        else np.zeros(0, np.int64)
    return Replay(done_ready,
                  np.array([c[1] for c in rec.combines], dtype=np.int64), starts.copy(),
                  np.array([c[2] for c in rec.combines], dtype=np.int64), links, cycles)
