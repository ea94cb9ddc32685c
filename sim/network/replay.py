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
  on it; store-and-forward: ``h - 1`` everywhere); cut-through, a hop on a link
  that no other message of the collective uses is a pure delay and is folded
  into its packet's previous hop (`_columns`);
- `_play` runs the execution rules of `sim.backends.fifo` (the heap clock: same
  cycles, same passes within a cycle, same queues keyed by ready cycle and task
  index) over those columns: a hop's only dependent is its packet's next hop,
  so only messages' deliveries and combines keep explicit dependent lists.

The figures are those of `sim.backends.fifo.run_fifo` on the real tasks, bit
for bit (``tests/network/test_replay.py`` compares both on every algorithm that
can be recorded). Algorithms that append tasks of their own (``in_network``,
``multicast``, ``row_column``: routers merging and multicasting) are not
recorded: `replay_collective` returns None and the caller plays the real tasks.
A ring all-reduce or all-gather whose segments share no link is not even
recorded: its timeline is the recursion of `sim.network.ring_collectives`
(`ring_played_alone`, ``p (p - 1)`` messages in ``O(p)`` vector steps).
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
from sim.network.algorithms import ALGORITHMS, Done
from sim.network.emit import Emitter
from sim.network.problem import CollectiveKind, CollectiveOptions, Problem, make_problem
from sim.network.ring_collectives import ring_played_alone
from sim.network.routing import Router
from sim.network.transport import NetworkEngines, flits_for, packet_sizes

__all__ = ["Recorder", "RecordingRefusedError", "Replay", "replay_collective"]


#: Replays of more tasks than this pause the garbage collector (`sim.gcpause`): below
#: it, re-enabling it costs more than the collections it saves.
_PAUSE_GC_TASKS = 100_000


class RecordingRefusedError(Exception):
    """The algorithm appends tasks other than messages and combines."""


class Recorder(Emitter):
    """An `Emitter` that records messages and combines instead of appending tasks.

    ``count`` is the length the real task list would have; the indices returned
    are the real ones. Touching ``tasks`` (algorithms that append their own
    tasks) raises `RecordingRefusedError`.
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
        raise RecordingRefusedError

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

    def record(self) -> Done:
        """Record the problem's algorithm; return its ``{core: tasks marking the result}``
        (`RecordingRefusedError` if the algorithm appends tasks of its own)."""
        return ALGORITHMS.get(self.problem.algorithm, key="algorithm").schedule(
            self.problem, self)

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


def _message_shapes(rec: Recorder, engines: NetworkEngines
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


def _kept_hops(rec: Recorder, shapes: tuple[list[int], ...]
               ) -> tuple[np.ndarray, ...]:
    """Per route position of every message (a *slot*) its link; which slots keep a hop
    task (the first, and those on a link another message also uses: see `_columns`);
    per kept slot its message, position, head latency summed up to the next kept
    slot, and whether it is its message's last kept slot."""
    links_l, heads_l, offset_l, hops_l = shapes[:4]
    hops = np.array(hops_l, dtype=np.int64)
    slot_msg = np.repeat(np.arange(hops.size), hops)
    slot_pos = np.arange(slot_msg.size) - np.repeat(np.cumsum(hops) - hops, hops)
    at = np.array(offset_l, dtype=np.int64)[slot_msg] + slot_pos
    slot_link = np.array(links_l, dtype=np.int64)[at]
    slot_head = np.array(heads_l, dtype=np.int64)[at]
    users = np.bincount(slot_link)  # messages per link: a route crosses a link once
    keep = (slot_pos == 0) | (users[slot_link] > 1) | rec.problem.router.store_and_forward
    kept = np.flatnonzero(keep)
    head_sum = np.add.reduceat(slot_head, kept) if kept.size else np.zeros(0, np.int64)
    following = np.append(kept[1:], slot_msg.size) if kept.size else kept
    is_end = (following == slot_msg.size) | (slot_pos[np.minimum(following,
                                                                 slot_msg.size - 1)] == 0)
    return slot_msg, slot_link, slot_msg[kept], slot_pos[kept], head_sum, is_end


def _columns(rec: Recorder, engines: NetworkEngines) -> tuple[_Columns, np.ndarray, np.ndarray,
                                                               np.ndarray]:
    """Every recorded task as columns (hops expanded with numpy), renumbered densely
    in program order; the real index of every task to its dense one (-1: none); per
    route slot its link and the cycles the message's packets hold it.

    Cut-through, a hop on a link no other message of the collective uses is a pure
    delay after its packet's previous hop (the packet reaches it at least its
    predecessor's flits after that one, which is then gone: induction along the
    route), so it is left out and its head latency added to the previous kept hop's
    (the last kept hop publishes when the packet is delivered; a message's delivery
    is its last packet's last kept hop). Leaving tasks out keeps the order of the
    others, so every FIFO tie is decided as on the real tasks."""
    n = rec.count
    router = rec.problem.router
    saf = router.store_and_forward
    shapes = _message_shapes(rec, engines)
    hops = np.array(shapes[3], dtype=np.int64)
    packets = np.array(shapes[4], dtype=np.int64)
    packet_flits = np.array(shapes[5], dtype=np.int64)
    first = np.array([m[0] for m in rec.messages], dtype=np.int64)
    slot_msg, slot_link, k_msg, k_pos, k_heads, k_end = _kept_hops(rec, shapes)
    groups = np.bincount(k_msg, minlength=hops.size)          # kept hops per packet
    k_offset = np.cumsum(groups) - groups
    # per packet: its message and ordinal; per kept hop: its packet and kept slot
    packet_msg = np.repeat(np.arange(packets.size), packets)
    packet_ord = np.arange(packet_msg.size) - np.repeat(np.cumsum(packets) - packets, packets)
    per_packet = groups[packet_msg]
    hop_packet = np.repeat(np.arange(packet_msg.size), per_packet)
    slot = k_offset[packet_msg[hop_packet]] + (
        np.arange(hop_packet.size) - np.repeat(np.cumsum(per_packet) - per_packet, per_packet))
    base = first[packet_msg] + packet_ord * hops[packet_msg]
    index = base[hop_packet] + k_pos[slot]
    flits = packet_flits[hop_packet]
    end = k_end[slot]
    following = np.where(end, -1, base[hop_packet] + k_pos[np.minimum(slot + 1, k_pos.size - 1)])
    # the real index every task is known by to its dense one, deliveries redirected
    keep = np.zeros(n, dtype=bool)
    keep[index] = True
    keep[[m[0] - 1 for m in rec.messages] if rec.inject else []] = True
    keep[[c[0] for c in rec.combines]] = True
    dense = np.cumsum(keep) - 1
    delivered_by = dense[first + (packets - 1) * hops + k_pos[k_offset + groups - 1]]
    dense[~keep] = -1
    dense[first + packets * hops - 1] = delivered_by
    size = int(keep.sum())
    engine = np.zeros(size, dtype=np.int64)
    duration = np.zeros(size, dtype=np.int64)
    latency = np.zeros(size, dtype=np.int64)
    successor = np.full(size, -1, dtype=np.int64)
    waiting = np.ones(size, dtype=np.int64)  # a later hop waits for its previous kept hop
    at = dense[index]
    engine[at] = _kept_links(shapes, k_msg, k_pos)[slot]
    duration[at] = flits
    latency[at] = k_heads[slot] - np.where(end | saf, 1, flits)
    successor[at] = np.where(following < 0, -1, dense[np.maximum(following, 0)])
    del hop_packet, slot, index, flits, end, following, at
    dependents: dict[int, list[int]] = {}
    for m, (start, src, _, _, deps) in enumerate(rec.messages):
        waits = tuple(int(dense[d]) for d in deps)
        if rec.inject:  # zero-time, on the source's NIC (`append_inject`)
            inject = int(dense[start - 1])
            engine[inject] = engines.nic[src]
            latency[inject] = router.endpoint_overhead_cycles
            waiting[inject] = len(waits)
            for dep in waits:
                dependents.setdefault(dep, []).append(inject)
            waits = (inject,)
        step = int(hops[m])
        firsts = dense[start:start + int(packets[m]) * step:step]
        waiting[firsts] = len(waits)
        for dep in waits:
            dependents.setdefault(dep, []).extend(firsts.tolist())
    for index_c, core, cycles, deps in rec.combines:
        at_c = int(dense[index_c])
        engine[at_c] = engines.simd[core]
        duration[at_c] = cycles
        waiting[at_c] = len(deps)
        for dep in deps:
            dependents.setdefault(int(dense[dep]), []).append(at_c)

    def packed(column: np.ndarray) -> array:
        out = array("q")
        out.frombytes(memoryview(column.data).cast("B"))  # no intermediate bytes copy
        return out

    # engines renumbered densely: the queues are of the engines used only
    used = np.unique(engine, return_inverse=True)[1].astype(np.int64)
    cols = _Columns(packed(used), packed(duration), packed(latency), packed(successor),
                    packed(waiting), dependents)
    held = np.bincount(packet_msg, weights=packet_flits, minlength=hops.size).astype(np.int64)
    return cols, dense, slot_link, held[slot_msg]


def _kept_links(shapes: tuple[list[int], ...], k_msg: np.ndarray, k_pos: np.ndarray
                ) -> np.ndarray:
    """The link engine of every kept slot."""
    offset = np.array(shapes[2], dtype=np.int64)
    return np.array(shapes[0], dtype=np.int64)[offset[k_msg] + k_pos]


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
    if (closed := _PLAYED_ALONE.get(problem.algorithm)) and (played := closed(problem, engines)):
        return played
    rec = Recorder(problem, engines)
    try:
        done = rec.record()
    except RecordingRefusedError:
        return None
    with paused_gc() if rec.count > _PAUSE_GC_TASKS else nullcontext():
        cols, dense, links, cycles = _columns(rec, engines)
        start, ready = _play(cols)
    done_ready = {core: max((ready[dense[i]] for i in done[core]), default=0)
                  for core in sorted(done)}
    combine_index = dense[np.array([c[0] for c in rec.combines], dtype=np.int64)]
    starts = np.frombuffer(start, dtype=np.int64)[combine_index] if combine_index.size \
        else np.zeros(0, np.int64)
    return Replay(done_ready,
                  np.array([c[1] for c in rec.combines], dtype=np.int64), starts.copy(),
                  np.array([c[2] for c in rec.combines], dtype=np.int64), links, cycles)
