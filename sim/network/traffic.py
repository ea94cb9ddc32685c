"""Traffic accounting from a task graph and its timeline: bytes and busy cycles per link.

Every hop task carries its bytes (`Task.nbytes`) and runs on its link's engine,
so nothing beyond the TaskGraph and the Timeline is needed. `parse_hop_name`
splits a hop's name (`sim.network.transport.hop_name`) for readers of traces;
the accounting never parses names.

Examples
--------
>>> from sim.ir import TaskGraph
>>> from sim.backends import run_des
>>> from sim.network.routing import Router
>>> from sim.network.topology import ring
>>> from sim.network.transport import append_message, build_engines
>>> router = Router(ring(4))
>>> engines = build_engines(router.graph)
>>> tasks = []
>>> _ = append_message(tasks, router, engines, 0, 2, 100, (), name="a", op="x")
>>> _ = append_message(tasks, router, engines, 1, 2, 64, (), name="b", op="x")
>>> graph = TaskGraph(engines.engines, tuple(tasks))
>>> traffic = link_traffic(graph, run_des(graph))
>>> traffic["link.1->2"]
LinkTraffic(bytes=164, busy_cycles=6, hops=2)
>>> traffic["link.2->3"]
LinkTraffic(bytes=0, busy_cycles=0, hops=0)
>>> parse_hop_name(tasks[0].name)
HopName(message='a', packet=0, src=0, dst=1, nbytes=100)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sim.ir import EngineKind, TaskGraph
from sim.ir.taskgraph import JOIN_BASE

__all__ = ["HopName", "LinkTraffic", "TimelineLike", "link_traffic", "parse_hop_name",
           "queueing_cycles"]


class TimelineLike(Protocol):
    """What is read from a backend's timeline (`sim.backends.Timeline` has it):
    per task, read-only."""

    @property
    def start_cycles(self) -> Sequence[int]: ...

    @property
    def end_cycles(self) -> Sequence[int]: ...

    @property
    def ready_cycles(self) -> Sequence[int]: ...


@dataclass(frozen=True)
class HopName:
    """The parts of a hop task's name."""

    message: str
    packet: int
    src: int
    dst: int
    nbytes: int


def parse_hop_name(name: str) -> HopName | None:
    """Split a hop task's name, or return None if ``name`` is not one.

    Examples
    --------
    >>> parse_hop_name("ar.rs0:p1:3->4:64B")
    HopName(message='ar.rs0', packet=1, src=3, dst=4, nbytes=64)
    >>> parse_hop_name("core0.simd") is None
    True
    """
    parts = name.rsplit(":", 3)
    if len(parts) != 4:
        return None
    message, packet, link, size = parts
    src, arrow, dst = link.partition("->")
    digits = (packet[1:], src, dst, size[:-1])
    if (not packet.startswith("p") or not arrow or not size.endswith("B")
            or not all(d.isdigit() for d in digits)):
        return None
    return HopName(message, int(packet[1:]), int(src), int(dst), int(size[:-1]))


@dataclass(frozen=True)
class LinkTraffic:
    """What one link carried: bytes, cycles held, and hop tasks served."""

    bytes: int
    busy_cycles: int
    hops: int


def link_traffic(graph: TaskGraph, timeline: TimelineLike) -> dict[str, LinkTraffic]:
    """Traffic of every network link (``EngineKind.LINK`` engines), by engine name.

    ``bytes`` sums the bytes (`Task.nbytes`) of the hop tasks the link served,
    ``busy_cycles`` their ``end - start``. Links that carried nothing are included
    with zeros; engine order is kept. Divide ``busy_cycles`` by the run's latency
    for a utilization.
    """
    links = [i for i, e in enumerate(graph.engines) if e.kind is EngineKind.LINK]
    totals = {i: [0, 0, 0] for i in links}
    for index, task in enumerate(graph.tasks):
        entry = totals.get(task.engine)
        if entry is None:
            continue
        entry[0] += task.nbytes
        entry[1] += timeline.end_cycles[index] - timeline.start_cycles[index]
        entry[2] += 1
    return {graph.engines[i].name: LinkTraffic(*totals[i]) for i in links}


def queueing_cycles(graph: TaskGraph, timeline: TimelineLike) -> tuple[int, ...]:
    """For every task, cycles it waited for its engine after its inputs were ready.

    ``start - max(ready of its dependencies, 0)``: all zeros means the run had
    no contention at all, which is when the closed forms are exact.
    """
    ready = timeline.ready_cycles
    if graph.joins:  # a join's ready cycle is its members' latest (`sim.ir.taskgraph`)
        ready = (*ready, *graph.join_ready_cycles(ready))
        n_tasks = len(graph.tasks)
        return tuple(
            timeline.start_cycles[i] - max(
                (ready[d if d < JOIN_BASE else n_tasks + d - JOIN_BASE] for d in task.deps),
                default=0)
            for i, task in enumerate(graph.tasks)
        )
    return tuple(
        timeline.start_cycles[i] - max((ready[d] for d in task.deps), default=0)
        for i, task in enumerate(graph.tasks)
    )
