"""The recording `Emitter`: a collective's schedule as compact records, no task object.

`Recorder` runs an algorithm's own schedule and keeps one record per message,
combine, multicast and lone task, while counting task indices exactly as the
real emitter appends them (`sim.network.emit.Emitter`: `append_message`'s inject
task, then every packet's hops in order; `append_multicast`'s inject task, then
its tree's hops in depth-first order, each followed by the eject marker of a
destination that forwards, cut-through), so every index it returns, and so
every FIFO tie of the replay, is the real list's; ``count`` is the real length.

A multicast's tree is laid out once per (source, destinations) (`McastShape`,
remembered by the router): its hops' links and head latencies, the hop each
waits for, where each hop and marker sits in the multicast's run of indices.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sim.ir import Task
from sim.network.algorithms import ALGORITHMS, Done
from sim.network.emit import Emitter
from sim.network.problem import Problem
from sim.network.routing import Edge, Router, multicast_tree
from sim.network.transport import NetworkEngines, flits_for, packet_sizes

__all__ = ["McastShape", "Recorder", "RecordingRefusedError", "mcast_shape"]


class RecordingRefusedError(Exception):
    """The algorithm appends tasks other than through the emitter's methods."""


@dataclass(frozen=True, eq=False)
class McastShape:
    """The tasks of one multicast tree (`sim.network.transport.append_multicast`),
    inject task left out, per hop in emission order: its link engine, head latency,
    the hop it waits for (position, -1: the multicast's own dependencies), whether
    its head node forwards (``forwards``), its offset in the multicast's indices and
    its eject marker's (-1: none) with that marker's NIC engine; ``size`` tasks in
    all; the offsets of the hops that wait for the multicast's dependencies
    (``root_at``); per destination (in the order asked) the offset marking its
    delivery; ``narrowest`` the width deciding the flits."""

    link: np.ndarray
    head: np.ndarray
    parent: np.ndarray
    forwards: np.ndarray
    at: np.ndarray
    eject_at: np.ndarray
    eject_nic: np.ndarray
    size: int
    root_at: tuple[int, ...]
    delivered: tuple[tuple[int, int], ...]
    narrowest: float


def mcast_shape(router: Router, engines: NetworkEngines, src: int,
                wanted: tuple[int, ...]) -> McastShape:
    """The `McastShape` of a multicast from ``src`` to ``wanted`` (distinct, without
    ``src``), remembered by ``router``; its loop is `append_multicast`'s. ``engines``
    must be those of the router's graph (`build_engines`, the same numbering for
    every caller of one router)."""
    key = ("mcast_shape", src, wanted)
    got: McastShape | None = router.remembered(key)
    if got is not None:
        return got
    tree = multicast_tree(router, src, list(wanted))
    targets = set(wanted)
    saf = router.store_and_forward
    width = router.link_bytes_per_cycle
    edges: list[Edge] = []
    parent: list[int] = []
    at: list[int] = []
    eject_at: list[int] = []
    eject_nic: list[int] = []
    delivered: dict[int, int] = {}
    into = {src: -1}
    size = 0
    stack = [src]
    while stack:
        node = stack.pop()
        for child in tree.get(node, ()):
            forwards = child in tree
            into[child] = len(edges)
            edges.append((node, child))
            parent.append(into[node])
            at.append(size)
            size += 1
            marker = child in targets and forwards and not saf
            eject_at.append(size if marker else -1)
            eject_nic.append(engines.nic[child] if marker else -1)  # a switch has none
            size += marker
            if child in targets:
                delivered[child] = size - 1
        stack.extend(reversed(tree.get(node, ())))

    def column(values: list[int]) -> np.ndarray:
        return np.array(values, dtype=np.int64)

    got = McastShape(column([engines.links[e] for e in edges]),
                     column([router.hop_cycles(u, v) for u, v in edges]), column(parent),
                     np.array([v in tree for _, v in edges], dtype=bool), column(at),
                     column(eject_at), column(eject_nic), size,
                     tuple(a for a, p in zip(at, parent, strict=True) if p < 0),
                     tuple((d, delivered[d]) for d in wanted),
                     min(width(u, v) for u, v in edges))
    router.remember(key, got)
    return got


class Recorder(Emitter):
    """An `Emitter` that records instead of appending tasks (module docstring).

    ``count`` is the length the real task list would have; the indices returned
    are the real ones. Touching ``tasks`` (a schedule appending tasks of its own,
    not through the emitter) raises `RecordingRefusedError`.
    """

    def __init__(self, problem: Problem, engines: NetworkEngines) -> None:
        super().__init__([], problem, engines, "collective", None)
        router = problem.router
        self.count = 0
        self.inject_cycles = router.endpoint_overhead_cycles
        #: whether messages and multicasts get an inject task (`append_inject`)
        self.injecting = self.inject_cycles > 0
        #: per message: (index of its first hop, source, destination, bytes, deps)
        self.messages: list[tuple[int, int, int, int, tuple[int, ...]]] = []
        #: per combine: (index, core, cycles, deps, bytes)
        self.combines: list[tuple[int, int, int, tuple[int, ...], int]] = []
        #: per multicast: (index of its first hop, source, shape, flits, bytes, deps,
        #: whether an inject task precedes it at index - 1)
        self.multicasts: list[tuple[int, int, McastShape, int, int, tuple[int, ...], bool]] = []
        #: per lone task (`inject`, `hop`, `marker`): (index, engine, duration, result
        #: latency, deps, bytes, whether it is a hop)
        self.lone: list[tuple[int, int, int, int, tuple[int, ...], int, bool]] = []
        self.max_packet_bytes = problem.options.max_packet_bytes
        self._hops: dict[tuple[int, int], int] = {}

    @property
    def tasks(self) -> list[Task]:
        raise RecordingRefusedError

    @tasks.setter
    def tasks(self, value: list[Task]) -> None:
        """`Emitter.__init__` sets it; the recorder keeps no tasks."""

    def record(self) -> Done:
        """Record the problem's algorithm; return its ``{core: tasks marking the result}``
        (`RecordingRefusedError` if the algorithm appends tasks of its own)."""
        return ALGORITHMS.get(self.problem.algorithm, key="algorithm").schedule(
            self.problem, self)

    def send(self, src: int, dst: int, nbytes: int, deps: Sequence[int], label: str) -> int:
        """Record a message; return the index the real `append_message` would."""
        if src == dst:
            raise ValueError(f"message {label!r} from core {src} to itself")
        hops = self._hops.get((src, dst))
        if hops is None:
            hops = self._hops[src, dst] = self.problem.router.route(src, dst).hops
        packets = len(packet_sizes(nbytes, self.max_packet_bytes))
        first = self.count + self.injecting
        self.messages.append((first, src, dst, nbytes, tuple(dict.fromkeys(deps))))
        self.count = first + packets * hops
        return self.count - 1

    def combine(self, core: int, nbytes: int, deps: Sequence[int]) -> int:
        """Record a combine; return the index the real `Emitter.combine` would."""
        index = self.count
        self.combines.append((index, core, self.problem.combine_cycles(nbytes),
                              tuple(dict.fromkeys(deps)), nbytes))
        self.count += 1
        return index

    def multicast(self, src: int, destinations: Sequence[int], nbytes: int, deps: Sequence[int],
                  label: str, *, flits: int | None = None, inject: bool = True
                  ) -> dict[int, int]:
        """Record a multicast; return what the real `append_multicast` would."""
        router = self.problem.router
        key = ("mcast_asked", src, tuple(destinations))
        shape: McastShape | None = router.remembered(key)
        if shape is None:
            wanted = tuple(d for d in dict.fromkeys(destinations) if d != src)
            if not wanted:
                return {}
            if any(not 0 <= d < len(self.engines.nic) for d in wanted):
                raise ValueError(f"multicast {label!r}: destinations must be cores")
            shape = mcast_shape(router, self.engines, src, wanted)
            router.remember(key, shape)
        count = flits_for(nbytes, shape.narrowest) if flits is None else flits
        injected = inject and self.injecting
        first = self.count + injected
        self.multicasts.append((first, src, shape, count, nbytes, tuple(dict.fromkeys(deps)),
                                injected))
        self.count = first + shape.size
        return {d: first + offset for d, offset in shape.delivered}

    def _lone(self, engine: int, duration: int, latency: int, deps: Sequence[int], nbytes: int,
              hop: bool) -> int:
        index = self.count
        self.lone.append((index, engine, duration, latency, tuple(dict.fromkeys(deps)), nbytes,
                          hop))
        self.count += 1
        return index

    def inject(self, core: int, deps: Sequence[int], label: str) -> tuple[int, ...]:
        """Record what `Emitter.inject` appends (nothing without endpoint overhead)."""
        if not self.inject_cycles:
            return tuple(deps)
        return (self._lone(self.engines.nic[core], 0, self.inject_cycles, deps, 0, False),)

    def hop(self, edge: Edge, flits: int, latency_cycles: int, deps: Sequence[int], label: str,
            nbytes: int) -> int:
        """Record what `Emitter.hop` appends."""
        return self._lone(self.engines.links[edge], flits, latency_cycles, deps, nbytes, True)

    def marker(self, core: int, latency_cycles: int, deps: Sequence[int], label: str) -> int:
        """Record what `Emitter.marker` appends."""
        return self._lone(self.engines.nic[core], 0, latency_cycles, deps, 0, False)
