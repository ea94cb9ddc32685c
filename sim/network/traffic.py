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

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from sim.ir import EngineKind, TaskGraph
from sim.ir.taskgraph import JOIN_BASE

__all__ = ["HopName", "LinkTraffic", "TimelineLike", "dependency_ready_cycles", "link_traffic",
           "parse_hop_name", "queueing_cycles"]


class TimelineLike(Protocol):
    """What is read from a backend's timeline (`sim.backends.Timeline` has it):
    per task, read-only."""

    @property
    def start_array(self) -> np.ndarray: ...

    @property
    def end_array(self) -> np.ndarray: ...

    @property
    def ready_array(self) -> np.ndarray: ...


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
    cols, n_engines = graph.columns, len(graph.engines)
    busy = timeline.end_array - timeline.start_array
    moved = np.bincount(cols.engine, weights=cols.nbytes, minlength=n_engines)
    held = np.bincount(cols.engine, weights=busy, minlength=n_engines)
    hops = np.bincount(cols.engine, minlength=n_engines)
    # float64 sums of integers are exact below 2**53 bytes / cycles per link
    return {graph.engines[i].name: LinkTraffic(int(moved[i]), int(held[i]), int(hops[i]))
            for i in links}


def dependency_ready_cycles(graph: TaskGraph, timeline: TimelineLike) -> np.ndarray:
    """For every task, the latest ready cycle of its dependencies (joins read as
    their members' latest, `sim.ir.taskgraph`), 0 for a task without any."""
    cols = graph.columns
    ready = timeline.ready_array
    if graph.joins:
        ready = np.concatenate((ready, np.asarray(graph.join_ready_cycles(ready),
                                                  dtype=np.int64)))
    n_tasks = len(cols)
    ids = cols.dep_ids
    node = np.where(ids >= JOIN_BASE, ids - JOIN_BASE + n_tasks, ids)
    latest = np.zeros(n_tasks, dtype=np.int64)
    counts = cols.dep_counts()
    has = counts > 0
    if node.size:
        latest[has] = np.maximum.reduceat(ready[node], cols.dep_offsets[:-1][has])
    return np.maximum(latest, 0)


def queueing_cycles(graph: TaskGraph, timeline: TimelineLike) -> tuple[int, ...]:
    """For every task, cycles it waited for its engine after its inputs were ready.

    ``start - max(ready of its dependencies, 0)``: all zeros means the run had
    no contention at all, which is when the closed forms are exact.
    """
    return tuple((timeline.start_array - dependency_ready_cycles(graph, timeline)).tolist())
