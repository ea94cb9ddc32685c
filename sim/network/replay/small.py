"""A small recording as columns, in plain Python (`sim.network.replay.columns`).

The numpy expansion costs some tens of array operations whatever the size; a
collective of a few hundred tasks (most of a layer's: partial sums over a few
cores) is built faster task by task. Same tasks, same rules: a message's hop on
a link no other hop of the collective uses is folded into its packet's
previous kept hop, cut-through (`sim.network.replay.messages`); NIC tasks are
delays where none publishes in the cycle it starts (`sim.network.replay.player`);
every multicast marker is kept. A task that waits for one task alone is that
one's chain successor where the slot is free (a delay never is).
"""

from __future__ import annotations

from array import array

import numpy as np

from sim.network.replay.recorder import Recorder
from sim.network.transport import NetworkEngines, flits_for, packet_sizes

__all__ = ["small_columns"]

#: One task by real index: (engine, duration, result latency, deps by real index).
_Task = tuple[int, int, int, tuple[int, ...]]


def small_columns(rec: Recorder, engines: NetworkEngines
                  ) -> tuple[tuple[array, array, array, array, array], dict[int, list[int]],
                        tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """The columns of ``rec`` (engine, duration, latency, successor, waiting), the
    dependent lists, and the layout's dense map and hop links, cycles and bytes."""
    router = rec.problem.router
    saf, overhead, links = router.store_and_forward, rec.inject_cycles, engines.links
    tasks: list[_Task | None] = [None] * rec.count
    nic_tasks: list[int] = []
    redirect: list[tuple[int, int]] = []
    #: per hop (folded ones too): its real index, link, flits and bytes
    hops_of: list[tuple[int, int, int, int]] = []
    routes: dict[tuple[int, int], tuple[list[int], tuple[int, ...], float]] = {}
    users: dict[int, int] = {}
    for _, src, dst, _, _ in rec.messages:
        route = routes.get((src, dst))
        if route is None:
            edges = router.route(src, dst)
            route = routes[src, dst] = ([links[e] for e in edges.edges],
                                        router.route_hop_cycles(src, dst),
                                        edges.bottleneck_bytes_per_cycle)
        for link in route[0]:
            users[link] = users.get(link, 0) + 1
    for multicast in rec.multicasts:
        for link in multicast[2].link.tolist():
            users[link] = 2  # shared: a message on it keeps its hop
    for lone in rec.lone:
        if lone[6]:
            users[lone[1]] = 2
    for first, src, dst, nbytes, deps in rec.messages:
        path, heads, width = routes[src, dst]
        hops = len(path)
        kept = [j for j in range(hops) if j == 0 or saf or users[path[j]] > 1]
        ends = [*kept[1:], hops]
        sums = [sum(heads[a:b]) for a, b in zip(kept, ends, strict=True)]
        if rec.injecting:
            tasks[first - 1] = (engines.nic[src], 0, overhead, deps)
            nic_tasks.append(first - 1)
            deps = (first - 1,)
        at = first
        for size in packet_sizes(nbytes, rec.max_packet_bytes):
            flits = flits_for(size, width)
            previous = deps
            for j, head in zip(kept, sums, strict=True):
                lag = head - 1 if saf or j == kept[-1] else head - flits
                tasks[at + j] = (path[j], flits, lag, previous)
                previous = (at + j,)
            hops_of.extend((at + j, path[j], flits, size) for j in range(hops))
            at += hops
        redirect.append((at - 1, previous[0]))
    for index, core, cycles, deps, _ in rec.combines:
        tasks[index] = (engines.simd[core], cycles, 0, deps)
    for first, src, shape, flits, nbytes, deps, injected in rec.multicasts:
        if injected:
            tasks[first - 1] = (engines.nic[src], 0, overhead, deps)
            nic_tasks.append(first - 1)
            deps = (first - 1,)
        rows = zip(shape.link.tolist(), shape.head.tolist(), shape.parent.tolist(),
                   shape.forwards.tolist(), shape.at.tolist(), shape.eject_at.tolist(),
                   shape.eject_nic.tolist(), strict=True)
        at_of: list[int] = []
        for link, head, parent, forwards, at, eject_at, nic in rows:
            lag = head - flits if forwards and not saf else head - 1
            tasks[first + at] = (link, flits, lag, deps if parent < 0 else (at_of[parent],))
            at_of.append(first + at)
            hops_of.append((first + at, link, flits, nbytes))
            if eject_at >= 0:
                tasks[first + eject_at] = (nic, 0, flits - 1, (first + at,))
                nic_tasks.append(first + eject_at)
    for index, engine, cycles, lag, deps, nbytes, hop in rec.lone:
        tasks[index] = (engine, cycles, lag, deps)
        if hop:
            hops_of.append((index, engine, cycles, nbytes))
        else:
            nic_tasks.append(index)
    delays = bool(nic_tasks) and all(tasks[i][2] != 0 for i in nic_tasks)  # type: ignore[index]
    if delays:
        for i in nic_tasks:
            task = tasks[i]
            assert task is not None
            tasks[i] = (-1, *task[1:])
    hops_of.sort()  # program order, as the real tasks
    return _packed(tasks, redirect, hops_of)


def _packed(tasks: list[_Task | None], redirect: list[tuple[int, int]],
            hops_of: list[tuple[int, int, int, int]]
            ) -> tuple[tuple[array, array, array, array, array], dict[int, list[int]],
                        tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """`small_columns`' columns from its tasks by real index."""
    dense = [-1] * len(tasks)
    size = 0
    for real, task in enumerate(tasks):
        if task is not None:
            dense[real] = size
            size += 1
    for last, by in redirect:
        dense[last] = dense[by]
    names: dict[int, int] = {-1: -1}
    engine = array("q", bytes(8 * size))
    duration, latency = array("q", engine), array("q", engine)
    successor = array("q", [-1]) * size
    waiting = array("q", engine)
    dependents: dict[int, list[int]] = {}
    at = 0
    for task in tasks:
        if task is None:
            continue
        eng, duration[at], latency[at], deps = task
        got = names.get(eng)
        if got is None:
            got = names[eng] = len(names) - 1
        engine[at] = got
        if len(deps) == 1 and eng >= 0 and successor[dense[deps[0]]] < 0:
            successor[dense[deps[0]]] = at
            waiting[at] = 1
        else:
            waiting[at] = len(deps)
            for dep in deps:
                dependents.setdefault(dense[dep], []).append(at)
        at += 1
    figures = np.array(hops_of, dtype=np.int64).reshape(-1, 4)
    return ((engine, duration, latency, successor, waiting), dependents,
            (np.array(dense, dtype=np.int64), figures[:, 1], figures[:, 2], figures[:, 3]))
